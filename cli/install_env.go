package cli

import (
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

// agentEnvFile is the text of a fresh /etc/pier/pier.env: every flag of
// `pier agent` as its PIER_* variable, commented out at its default, so an
// operator uncomments what to change. systemd reads it (EnvironmentFile=).
func agentEnvFile(dataDir string) string {
	var b strings.Builder
	b.WriteString(`# The pier agent's settings, read by its systemd service (pier.service).
# Every flag of ` + "`pier agent`" + ` is a PIER_* variable here; the lines that are
# commented out show the defaults. After a change: systemctl restart pier
# (apps keep running), or systemctl reload pier to hand over without
# dropping a connection. This file is yours: ` + "`pier install`" + ` and package
# upgrades keep it.
#
# On a server, serve the apps on the standard ports and name their domain:
#PIER_HTTP_ADDR=:80
#PIER_HTTPS_ADDR=:443
#PIER_DOMAIN=apps.example.com
#PIER_ACME_EMAIL=ops@example.com

`)
	for _, f := range agentCommand().Flags {
		df, ok := f.(ucli.DocGenerationFlag)
		if !ok || len(df.GetEnvVars()) == 0 {
			continue
		}
		name, value := df.GetEnvVars()[0], df.GetValue()
		usage := strings.ReplaceAll(df.GetUsage(), "`", "")
		if name == "PIER_DATA_DIR" {
			value = dataDir
			usage += " (the service's ReadWritePaths= names it: move both together, with `systemctl edit pier`)"
		}
		fmt.Fprintf(&b, "# %s\n#%s=%s\n", usage, name, value)
	}
	b.WriteString(`
# Secrets, read from the environment only. Without them the agent writes an
# admin token to <data-dir>/admin.token and a key to <data-dir>/secret.key.
#PIER_ADMIN_TOKEN=
#PIER_SECRET_KEY=
`)
	return b.String()
}
