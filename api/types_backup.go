package api

import "time"

// BackupManifest is the last entry of a backup archive (manifest.json): what
// made it and the SHA-256 of every file in it.
type BackupManifest struct {
	Format        int          `json:"format"` // BackupFormat
	PierVersion   string       `json:"pier_version"`
	SchemaVersion int          `json:"schema_version"` // the store's
	Created       time.Time    `json:"created"`
	Apps          []string     `json:"apps"`
	Slugs         int          `json:"slugs"`
	Files         []BackupFile `json:"files"`
	// Excluded names what the archive leaves out on purpose.
	Excluded []string `json:"excluded"`
}

// BackupFormat is the archive layout this pier writes and reads.
const BackupFormat = 1

// BackupFile is one file of a backup archive.
type BackupFile struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}
