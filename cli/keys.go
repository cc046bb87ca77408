package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

// stdin is where `pier keys add -` reads; tests replace it.
var stdin io.Reader = os.Stdin

func keysCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "keys",
		Usage: "SSH public keys allowed to git push",
		Flags: clientFlags(),
		Subcommands: []*ucli.Command{
			{
				Name: "add", Usage: "allow a public key (a file, or - for stdin) to use git as its role allows", ArgsUsage: "[NAME] FILE|-",
				Flags:  clientFlags(append(grantFlags("key"), &ucli.StringFlag{Name: "name", Usage: "a name for the key (default: NAME, or its comment)"})...),
				Action: runKeysAdd,
			},
			{Name: "remove", Usage: "remove a key", ArgsUsage: "FINGERPRINT", Flags: clientFlags(), Action: runKeysRemove},
			{Name: "list", Usage: "list the keys", Flags: clientFlags(), Action: runKeysList},
		},
	}
}

func runKeysAdd(c *ucli.Context) error {
	as, err := args(c)
	if err != nil {
		return err
	}
	name := c.String("name")
	switch {
	case len(as) == 2 && name == "":
		name, as = as[0], as[1:]
	case len(as) != 1:
		return fmt.Errorf("give the public key file: pier keys add --role deploy [NAME] ~/.ssh/id_ed25519.pub (or - for stdin)")
	}
	g, err := grantOf(c)
	if err != nil {
		return err
	}
	line, err := readPublicKey(as[0])
	if err != nil {
		return err
	}
	if f := strings.Fields(line); name == "" && len(f) > 2 {
		name = strings.Join(f[2:], " ")
	}
	cl, err := newClient()
	if err != nil {
		return err
	}
	k, err := cl.AddKey(c.Context, api.KeyRequest{Name: name, PublicKey: line, Grant: g})
	if err != nil {
		return fmt.Errorf("adding the key: %w", err)
	}
	if wantJSON(c) {
		return printJSON(c, k)
	}
	fmt.Fprintf(c.App.ErrWriter, "Added key %s (%s): %s on %s.\n", k.Fingerprint, k.Name, k.Role, appsText(k.Apps))
	return nil
}

// readPublicKey reads the first authorized_keys line of a file or stdin.
func readPublicKey(file string) (string, error) {
	r := stdin
	if file != "-" {
		if strings.HasSuffix(file, "id_rsa") || strings.HasSuffix(file, "id_ed25519") || strings.HasSuffix(file, "id_ecdsa") {
			return "", fmt.Errorf("%s looks like a private key: give the public one (%s.pub)", file, file)
		}
		f, err := os.Open(file)
		if err != nil {
			return "", fmt.Errorf("reading the public key: %w", err)
		}
		defer f.Close()
		r = f
	}
	sc := bufio.NewScanner(io.LimitReader(r, 64<<10))
	sc.Buffer(make([]byte, 0, 16<<10), 64<<10)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.Contains(line, "PRIVATE KEY") {
			return "", fmt.Errorf("%s holds a private key: give the public one (.pub)", file)
		}
		if len(strings.Fields(line)) < 2 {
			return "", fmt.Errorf("%q is not a public key line like \"ssh-ed25519 AAAA... me@host\"", line)
		}
		return line, nil
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("reading the public key: %w", err)
	}
	return "", fmt.Errorf("no public key found in %s", file)
}

func runKeysRemove(c *ucli.Context) error {
	as, err := args(c)
	if err != nil {
		return err
	}
	if len(as) != 1 {
		return fmt.Errorf("give the key's fingerprint, as listed by `pier keys list`")
	}
	cl, err := newClient()
	if err != nil {
		return err
	}
	if err := cl.RemoveKey(c.Context, as[0]); err != nil {
		return fmt.Errorf("removing key %s: %w", as[0], err)
	}
	fmt.Fprintf(c.App.ErrWriter, "Removed key %s.\n", as[0])
	return nil
}

func runKeysList(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	cl, err := newClient()
	if err != nil {
		return err
	}
	ks, err := cl.Keys(c.Context)
	if err != nil {
		return err
	}
	if ks == nil {
		ks = []api.Key{}
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i].CreatedAt.Before(ks[j].CreatedAt) })
	if wantJSON(c) {
		return printJSON(c, ks)
	}
	t := newTable(c.App.Writer, "FINGERPRINT", "NAME", "ROLE", "APPS", "ADDED")
	for _, k := range ks {
		t.row(k.Fingerprint, k.Name, k.Role, appsText(k.Apps), ago(k.CreatedAt, now()))
	}
	return t.flush()
}
