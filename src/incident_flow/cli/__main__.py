"""``python -m incident_flow.cli``: the same as the ``incident-flow`` command."""

from ._main import main

main()
