package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/terraform"
)

// infraCommand is `pier infra init|plan|apply|output|destroy`: the
// built-in Terraform modules (terraform/aws, terraform/gcp) run with the
// terraform or tofu on PATH. Their output streams to stderr; the module's
// outputs (URLs, address) are the result, on stdout.
func infraCommand() *ucli.Command {
	flags := func(extra ...ucli.Flag) []ucli.Flag {
		return append([]ucli.Flag{
			&ucli.StringFlag{Name: "cloud", Usage: "the module to run: " + strings.Join(terraform.Clouds, " or "), EnvVars: []string{"PIER_INFRA_CLOUD"}},
			&ucli.StringFlag{Name: "var-file", Usage: "the module's variables (`FILE`.tfvars)"},
			&ucli.StringFlag{Name: "dir", Value: "pier-infra", Usage: "where the module is written and run; its Terraform state lives there: keep it", EnvVars: []string{"PIER_INFRA_DIR"}},
			&ucli.StringFlag{Name: "module", Usage: "run the module in `DIR` as it is instead of the built-in one (a checkout's terraform/aws, or your own)"},
			jsonFlag(),
		}, extra...)
	}
	sub := func(name, usage string, action ucli.ActionFunc, extra ...ucli.Flag) *ucli.Command {
		return &ucli.Command{Name: name, Usage: usage, Flags: flags(extra...), Action: action}
	}
	return &ucli.Command{
		Name:  "infra",
		Usage: "stand pier up on AWS or GCP with its Terraform modules (needs terraform or tofu)",
		Description: "The modules are built into this binary: each run writes them into --dir/<cloud>\n" +
			"(and --dir/boot) and runs there, so --dir also holds the state. Typical use:\n" +
			"  pier infra init --cloud aws\n" +
			"  pier infra plan --cloud aws --var-file aws.tfvars\n" +
			"  pier infra apply --cloud aws --var-file aws.tfvars\n" +
			"See docs/clouds.md for the variables.",
		Subcommands: []*ucli.Command{
			sub("init", "install the module's providers and set up its state", runInfraInit),
			sub("plan", "show what apply would change", runInfraPlan),
			sub("apply", "create or update the resources, then print the outputs", runInfraApply),
			sub("output", "print the outputs: URLs, the address, the host", runInfraOutput),
			sub("destroy", "delete every resource the state holds (the backup bucket must be empty)", runInfraDestroy,
				&ucli.StringFlag{Name: "confirm", Usage: "the `CLOUD` again, to confirm"}),
		},
	}
}

// infraWorkspace opens the workspace the flags name.
func infraWorkspace(c *ucli.Context) (*terraform.Workspace, error) {
	if as, err := args(c); err != nil || len(as) != 0 {
		return nil, fmt.Errorf("pier infra %s takes flags only, not %q", c.Command.Name, strings.Join(as, " "))
	}
	if c.String("module") == "" && c.String("cloud") == "" {
		return nil, fmt.Errorf("give --cloud %s (or --module DIR)", strings.Join(terraform.Clouds, "|"))
	}
	return terraform.Open(terraform.Options{
		Cloud:   c.String("cloud"),
		Dir:     c.String("dir"),
		Module:  c.String("module"),
		VarFile: c.String("var-file"),
		Stdout:  c.App.ErrWriter,
		Stderr:  c.App.ErrWriter,
	})
}

func runInfraInit(c *ucli.Context) error {
	w, err := infraWorkspace(c)
	if err != nil {
		return err
	}
	progress(c, "Initializing %s\n", w.Dir())
	if err := w.Init(c.Context); err != nil {
		return fmt.Errorf("terraform init in %s: %w", w.Dir(), err)
	}
	return nil
}

func runInfraPlan(c *ucli.Context) error {
	w, err := infraWorkspace(c)
	if err != nil {
		return err
	}
	changes, err := w.Plan(c.Context)
	if err != nil {
		return fmt.Errorf("terraform plan in %s: %w", w.Dir(), err)
	}
	if changes {
		progress(c, "Apply it with: pier infra apply %s\n", infraFlagsAgain(c))
	}
	return nil
}

func runInfraApply(c *ucli.Context) error {
	w, err := infraWorkspace(c)
	if err != nil {
		return err
	}
	if err := w.Apply(c.Context); err != nil {
		return fmt.Errorf("terraform apply in %s: %w", w.Dir(), err)
	}
	return printInfraOutputs(c, w)
}

func runInfraOutput(c *ucli.Context) error {
	w, err := infraWorkspace(c)
	if err != nil {
		return err
	}
	return printInfraOutputs(c, w)
}

func runInfraDestroy(c *ucli.Context) error {
	what := c.String("cloud")
	if what == "" {
		what = c.String("module")
	}
	if confirm := c.String("confirm"); confirm != what || what == "" {
		if confirm == "" {
			return fmt.Errorf("destroying deletes the host, its data volume and its DNS records for good (take a backup first): confirm with `pier infra destroy %s --confirm %s`", infraFlagsAgain(c), what)
		}
		return fmt.Errorf("--confirm %q does not match %q: nothing was destroyed", confirm, what)
	}
	w, err := infraWorkspace(c)
	if err != nil {
		return err
	}
	if err := w.Destroy(c.Context); err != nil {
		return fmt.Errorf("terraform destroy in %s: %w", w.Dir(), err)
	}
	progress(c, "Destroyed what %s held.\n", w.Dir())
	return nil
}

func printInfraOutputs(c *ucli.Context, w *terraform.Workspace) error {
	outs, err := w.Outputs(c.Context)
	if err != nil {
		return fmt.Errorf("terraform output in %s: %w", w.Dir(), err)
	}
	if wantJSON(c) {
		return printJSON(c, outs)
	}
	t := newTable(c.App.Writer, "OUTPUT", "VALUE")
	for _, o := range outs {
		v := string(o.Value)
		var str string
		if json.Unmarshal(o.Value, &str) == nil {
			v = str
		}
		if o.Sensitive {
			v = "(sensitive: terraform output -raw " + o.Name + ")"
		}
		t.row(o.Name, v)
	}
	return t.flush()
}

// infraFlagsAgain repeats the flags that name the workspace, for a hint.
func infraFlagsAgain(c *ucli.Context) string {
	var fl []string
	for _, n := range []string{"cloud", "module", "var-file"} {
		if v := c.String(n); v != "" {
			fl = append(fl, "--"+n+" "+v)
		}
	}
	if c.IsSet("dir") {
		fl = append(fl, "--dir "+c.String("dir"))
	}
	return strings.Join(fl, " ")
}
