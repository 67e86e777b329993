# SPDX-License-Identifier: Apache-2.0
"""The campaign settings of the metrics export (docs/metrics.md), as campaign_settings checks them.

One home per setting: the campaign_status callback reads them (its options metrics_pushgateway_url and
metrics_textfile hold the defaults: none); this spec only lets the settings check know the names and types before
anything is touched (campaign_settings.CAMPAIGN_SPEC includes it, as it includes control/settings.py's).
"""

from __future__ import annotations

METRICS_SPEC = {
    # a URL, basic-auth credentials as its user info (vault-encrypt it)
    'escalator_metrics_pushgateway_url': dict(type='str'),
    'escalator_metrics_textfile': dict(type='str'),
}
