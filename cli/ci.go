package cli

import ucli "github.com/urfave/cli/v2"

// ciCommand groups what a CI job runs: the entry of the GitHub Action in
// .github/actions/deploy.
func ciCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "ci",
		Usage: "deploy from CI: push, follow, smoke-test, promote, report",
		Flags: clientFlags(),
		Subcommands: []*ucli.Command{
			ciDeployCommand(),
		},
	}
}
