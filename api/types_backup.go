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
	// KeyIncluded tells the archive holds secret.key (pier backup create
	// --include-key); it is then encrypted with a passphrase.
	KeyIncluded bool `json:"key_included,omitempty"`
	// Config names each app's config vars (never their values): what a
	// restore without the key reports it cannot decrypt. Absent from the
	// backups of a pier before it.
	Config map[string][]string `json:"config"`
	// Warnings name what the backup holds less fresh than asked: an
	// add-on that could not be backed up now, and which earlier backup of
	// it went in instead, if any.
	Warnings []string `json:"warnings,omitempty"`
}

// BackupRequest asks the agent for a backup (POST /v1/backups).
type BackupRequest struct {
	// IncludeKey puts the secret key into the archive; it needs a
	// Passphrase.
	IncludeKey bool `json:"include_key,omitempty"`
	// Passphrase, when set, encrypts the whole archive (age, scrypt).
	Passphrase string `json:"passphrase,omitempty"`
}

// BackupFormat is the archive layout this pier writes and reads.
const BackupFormat = 1

// BackupFile is one file of a backup archive.
type BackupFile struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}
