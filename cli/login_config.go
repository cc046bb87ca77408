package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/renameio/v2"

	"github.com/pierhq/pier/api"
)

// defaultAPI is the agent a client talks to when nothing else is said.
const defaultAPI = "http://127.0.0.1:7070"

// loginConfig is what `pier login` saves in the user's config dir.
type loginConfig struct {
	API   string `json:"api"`
	Token string `json:"token"`
}

// loginConfigPath is $XDG_CONFIG_HOME/pier/config.json (or the OS's
// equivalent).
func loginConfigPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("finding the user config dir: %w", err)
	}
	return filepath.Join(dir, "pier", "config.json"), nil
}

// readLoginConfig returns the saved login, or a zero one when there is none.
func readLoginConfig() (loginConfig, error) {
	var lc loginConfig
	p, err := loginConfigPath()
	if err != nil {
		return lc, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return lc, nil
	}
	if err != nil {
		return lc, fmt.Errorf("reading %s: %w", p, err)
	}
	if err := json.Unmarshal(b, &lc); err != nil {
		return lc, fmt.Errorf("reading %s: %w (fix it or run `pier login` again)", p, err)
	}
	return lc, nil
}

// writeLoginConfig saves lc with mode 0600, atomically: a temp file in the
// same dir, fsync, rename.
func writeLoginConfig(lc loginConfig) (string, error) {
	p, err := loginConfigPath()
	if err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(lc, "", "  ")
	if err != nil {
		return "", err
	}
	if err := writeFileAtomic(p, append(b, '\n'), 0o600); err != nil {
		return "", fmt.Errorf("saving the login: %w", err)
	}
	return p, nil
}

// writeFileAtomic writes a file that survives a crash whole or not at all
// (a temp file beside it, fsync, rename).
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return renameio.WriteFile(path, data, mode)
}

// clientSettings resolves the agent's URL and the token: PIER_API and
// PIER_TOKEN, then the saved login, then the local default with no token.
// A saved token is only sent to the API it was saved for.
func clientSettings() (apiURL, token string, err error) {
	lc, err := readLoginConfig()
	if err != nil {
		return "", "", err
	}
	apiURL = os.Getenv("PIER_API")
	if apiURL == "" {
		apiURL = lc.API
	}
	if apiURL == "" {
		apiURL = defaultAPI
	}
	token = os.Getenv("PIER_TOKEN")
	if token == "" && sameAPI(lc.API, apiURL) {
		token = lc.Token
	}
	return apiURL, token, nil
}

func sameAPI(a, b string) bool {
	trim := func(s string) string {
		for len(s) > 0 && s[len(s)-1] == '/' {
			s = s[:len(s)-1]
		}
		return s
	}
	return a != "" && trim(a) == trim(b)
}

// newClient returns the api client for the resolved agent.
func newClient() (*api.Client, error) {
	apiURL, token, err := clientSettings()
	if err != nil {
		return nil, err
	}
	return api.NewClient(apiURL, token), nil
}

// removeFile removes path; a file already gone is fine.
func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
