package agent

import (
	"net/http"
	"strings"
)

// rotateAdminToken makes a new admin token, revokes the bootstrap one (from
// admin.token or PIER_ADMIN_TOKEN) and writes the new secret to admin.token;
// the answer carries the secret, once.
func (a *Agent) rotateAdminToken(w http.ResponseWriter, r *http.Request) error {
	path := a.adminTokenPath()
	t, revoked, err := a.store.RotateBootstrapToken("admin", func(secret string) error {
		return writeFileAtomic(path, []byte(secret+"\n"), 0o600)
	})
	if err != nil {
		return err
	}
	a.log.Info("rotated the admin API token", "by", userOf(r), "new", t.ID, "revoked", strings.Join(revoked, ","), "file", path)
	writeJSON(w, http.StatusCreated, t)
	return nil
}
