"""What the outbox's rows mean, for the queries that read them."""

from __future__ import annotations

# Rows that took a policy revision of their own. `approval.requested` rows are stamped with the
# revision current when they were written (creating an approval changes no policy and takes no
# revision), so readers that follow revisions skip them.
CARRIES_A_REVISION = "event_type <> 'approval.requested'"
