package agent

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"
)

// A backup made with --include-key holds the secret key, so the whole
// archive is encrypted with a passphrase: age, with an scrypt recipient
// (a memory-hard key derivation, so guessing is slow). An encrypted backup
// is the tar.gz inside age's format, named .tar.gz.age.

// PassphraseEnv is where the passphrase comes from when no file is given;
// it is never a flag's value, which other users could read in ps.
const PassphraseEnv = "PIER_BACKUP_PASSPHRASE"

// minPassphrase is the shortest passphrase taken.
const minPassphrase = 12

// BackupPassphrase reads the passphrase from file (its first line), or
// else from PIER_BACKUP_PASSPHRASE; "" when neither is set.
func BackupPassphrase(file string, getenv func(string) string) (string, error) {
	var p string
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("reading the passphrase: %w", err)
		}
		p, _, _ = strings.Cut(string(b), "\n")
		p = strings.TrimRight(p, "\r")
		if p == "" {
			return "", fmt.Errorf("the passphrase file %s is empty", file)
		}
	} else {
		p = getenv(PassphraseEnv)
	}
	if p != "" && len(p) < minPassphrase {
		return "", fmt.Errorf("the backup passphrase is %d characters: give at least %d", len(p), minPassphrase)
	}
	return p, nil
}

// scryptWorkFactor is log2 of scrypt's cost: age's default, about a
// second to open a backup. Tests lower it.
var scryptWorkFactor = 18

// encryptTo returns a writer that encrypts into w with passphrase; closing
// it writes the last chunk (and does not close w).
func encryptTo(w io.Writer, passphrase string) (io.WriteCloser, error) {
	r, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		return nil, err
	}
	r.SetWorkFactor(scryptWorkFactor)
	return age.Encrypt(w, r)
}

// ageHeader starts every age file.
var ageHeader = []byte("age-encryption.org/v1\n")

// isEncrypted reports whether r starts as an age file, and returns a
// reader of the whole of r.
func isEncrypted(r io.Reader) (bool, io.Reader) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(len(ageHeader))
	return bytes.Equal(head, ageHeader), br
}

// ErrNeedPassphrase is returned for an encrypted backup read without one.
var ErrNeedPassphrase = errors.New("the backup is encrypted (it was made with --include-key): give its passphrase with --passphrase-file FILE or " + PassphraseEnv)

// decryptFrom returns r decrypted with passphrase when it is encrypted,
// else r itself.
func decryptFrom(r io.Reader, passphrase string) (plain io.Reader, encrypted bool, err error) {
	encrypted, r = isEncrypted(r)
	if !encrypted {
		return r, false, nil
	}
	if passphrase == "" {
		return nil, true, ErrNeedPassphrase
	}
	id, err := age.NewScryptIdentity(passphrase)
	if err != nil {
		return nil, true, err
	}
	plain, err = age.Decrypt(r, id)
	var nomatch *age.NoIdentityMatchError
	if errors.As(err, &nomatch) {
		return nil, true, errors.New("the passphrase does not open this backup: check it (a passphrase file's first line is the passphrase)")
	}
	if err != nil {
		return nil, true, fmt.Errorf("the archive is truncated or damaged (%v)", err)
	}
	return plain, true, nil
}
