"""The exception hierarchy: one base, messages a user can act on."""


class TorrentwebError(Exception):
    """Base of every error torrentweb raises on purpose."""


class ConfigError(TorrentwebError):
    """A mistake in the YAML configuration, located by file, line, column and key."""

    def __init__(self, file, line, column, key, reason):
        self.file, self.line, self.column, self.key, self.reason = file, line, column, key, reason
        where = f"{file}:{line}:{column}" if line else str(file)
        super().__init__(f"{where}: {key}: {reason}" if key else f"{where}: {reason}")


class BuildError(TorrentwebError):
    """A torrent could not be built for a file (gone, unreadable, changed while hashing)."""

    def __init__(self, path, reason):
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")


class Cancelled(TorrentwebError):
    """Long work (hashing) was stopped because the daemon is stopping."""


class CatalogueUnavailable(TorrentwebError):
    """The catalogue cannot be read now (not created yet, locked, unreadable)."""

    def __init__(self, path, reason):
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")
