"""The domain's own exceptions; adapters translate driver errors into these."""


class FlychatError(Exception):
    """Base class of every error the domain raises."""


class InvalidInput(FlychatError):
    """A client-supplied value breaks a rule; nothing was stored or published."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class InvalidRoom(InvalidInput):
    """A room id that is malformed or reserved."""

    def __init__(self, reason: str) -> None:
        super().__init__("room", reason)


class AppendConflict(FlychatError):
    """A concurrent writer took the id this append wanted; retrying is safe."""


class StorageUnavailable(FlychatError):
    """The message store cannot be reached or refused the operation."""
