package terraform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"

	"github.com/google/renameio/v2"
	"github.com/hashicorp/terraform-exec/tfexec"
)

// Clouds are the modules built in.
var Clouds = []string{"aws", "gcp"}

// ErrNoBinary says that neither terraform nor tofu is on PATH, and how to
// get one.
var ErrNoBinary = errors.New("neither terraform nor tofu is on PATH: install OpenTofu (https://opentofu.org/docs/intro/install/) " +
	"or Terraform (https://developer.hashicorp.com/terraform/install), " +
	"or build OpenTofu with Go (see docs/clouds.md), and run this again")

// FindBinary returns the path of terraform, or else tofu, on PATH.
func FindBinary() (string, error) {
	for _, name := range []string{"terraform", "tofu"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNoBinary
}

// Options say where a Workspace's module is and how its runs report.
type Options struct {
	// Cloud is one of Clouds: the built-in module to run.
	Cloud string
	// Dir is where the built-in module is written and run (its state
	// lives there too): Dir/<cloud> beside Dir/boot.
	Dir string
	// Module, when set, is a module directory run as it is instead of the
	// built-in one (a checkout's terraform/aws, or a module of your own).
	Module string
	// VarFile is a .tfvars (or .tfvars.json) file for plan, apply and
	// destroy; empty passes none.
	VarFile string
	// Binary is terraform's or tofu's path; empty finds one on PATH.
	Binary string
	// Stdout and Stderr receive terraform's output as it runs.
	Stdout, Stderr io.Writer
}

// Workspace runs one module through terraform-exec.
type Workspace struct {
	dir     string
	varFile string
	stdout  io.Writer
	tf      *tfexec.Terraform
}

// Open prepares a workspace: it finds the binary, checks the var file and,
// for a built-in module, writes its files into Dir (refreshing those pier
// wrote before; other files there, and the state, are left alone).
func Open(o Options) (*Workspace, error) {
	bin := o.Binary
	if bin == "" {
		var err error
		if bin, err = FindBinary(); err != nil {
			return nil, err
		}
	}
	w := &Workspace{}
	if o.VarFile != "" {
		abs, err := filepath.Abs(o.VarFile)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("--var-file: %w", err)
		}
		w.varFile = abs
	}
	switch {
	case o.Module != "":
		if ok, _ := hasTF(o.Module); !ok {
			return nil, fmt.Errorf("--module %s holds no .tf file", o.Module)
		}
		w.dir = o.Module
	case !slices.Contains(Clouds, o.Cloud):
		return nil, fmt.Errorf("--cloud must be one of %v, not %q", Clouds, o.Cloud)
	default:
		if o.Dir == "" {
			return nil, errors.New("no working directory for the module: give --dir")
		}
		if err := writeModule(o.Dir, o.Cloud); err != nil {
			return nil, fmt.Errorf("writing the %s module into %s: %w", o.Cloud, o.Dir, err)
		}
		w.dir = filepath.Join(o.Dir, o.Cloud)
	}
	tf, err := tfexec.NewTerraform(w.dir, bin)
	if err != nil {
		return nil, err
	}
	w.stdout = orDiscard(o.Stdout)
	tf.SetStdout(w.stdout)
	tf.SetStderr(orDiscard(o.Stderr))
	w.tf = tf
	return w, nil
}

// Dir is the directory terraform runs in.
func (w *Workspace) Dir() string { return w.dir }

// Init downloads the providers and sets up the state.
func (w *Workspace) Init(ctx context.Context) error {
	return w.tf.Init(ctx)
}

// Plan shows what Apply would change; it reports whether anything would.
func (w *Workspace) Plan(ctx context.Context) (bool, error) {
	var opts []tfexec.PlanOption
	if w.varFile != "" {
		opts = append(opts, tfexec.VarFile(w.varFile))
	}
	return w.tf.Plan(ctx, opts...)
}

// Apply makes the resources so (terraform-exec approves the plan itself:
// a person reviews it with Plan first).
func (w *Workspace) Apply(ctx context.Context) error {
	var opts []tfexec.ApplyOption
	if w.varFile != "" {
		opts = append(opts, tfexec.VarFile(w.varFile))
	}
	return w.tf.Apply(ctx, opts...)
}

// Destroy removes every resource in the state.
func (w *Workspace) Destroy(ctx context.Context) error {
	var opts []tfexec.DestroyOption
	if w.varFile != "" {
		opts = append(opts, tfexec.VarFile(w.varFile))
	}
	return w.tf.Destroy(ctx, opts...)
}

// Output is one of a module's outputs. A sensitive one has no Value.
type Output struct {
	Name      string          `json:"name"`
	Value     json.RawMessage `json:"value,omitempty"`
	Sensitive bool            `json:"sensitive"`
}

// Outputs are the state's outputs, by name.
func (w *Workspace) Outputs(ctx context.Context) ([]Output, error) {
	// terraform-exec copies `output -json` to the stream too: Outputs
	// returns it instead.
	w.tf.SetStdout(io.Discard)
	m, err := w.tf.Output(ctx)
	w.tf.SetStdout(w.stdout)
	if err != nil {
		return nil, err
	}
	out := make([]Output, 0, len(m))
	for name, o := range m {
		v := Output{Name: name, Sensitive: o.Sensitive}
		if !o.Sensitive {
			v.Value = o.Value
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// writeModule writes the cloud's module and the boot files into dir, each
// file replaced in one rename.
func writeModule(dir, cloud string) error {
	for _, sub := range []string{cloud, "boot"} {
		entries, err := fs.ReadDir(Modules, sub)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
		for _, e := range entries {
			data, err := Modules.ReadFile(path.Join(sub, e.Name()))
			if err != nil {
				return err
			}
			if err := renameio.WriteFile(filepath.Join(dir, sub, e.Name()), data, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

func hasTF(dir string) (bool, error) {
	m, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	return len(m) > 0, err
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
