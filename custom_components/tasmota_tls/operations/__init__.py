"""Enrolments, renewals and revocations: when they run, what they do, how they end.

``runner`` decides when (requests, automatic enrolment, resumption after a restart,
``slots`` a few at a time); ``jobs`` runs the enrolment engine for one device;
``outcomes`` and ``revocation`` record and announce the result. They read devices from
the read model and never write entity state themselves: the read model pushes it.
"""

from .context import OperationContext
from .runner import OperationRunner

__all__ = ["OperationContext", "OperationRunner"]
