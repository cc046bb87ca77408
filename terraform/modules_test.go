package terraform

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// module is one parsed directory of .tf files: every top-level block.
type module struct {
	dir    string
	blocks []*hclsyntax.Block
}

func parseModule(t *testing.T, dir string) module {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no .tf files in %s: %v", dir, err)
	}
	p := hclparse.NewParser()
	m := module{dir: dir}
	for _, f := range files {
		file, diags := p.ParseHCLFile(f)
		if diags.HasErrors() {
			t.Fatalf("%s: %s", f, diags.Error())
		}
		m.blocks = append(m.blocks, file.Body.(*hclsyntax.Body).Blocks...)
	}
	return m
}

// all returns the top-level blocks of a type ("resource", "variable") whose
// first label is kind ("" for any).
func (m module) all(typ, kind string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, b := range m.blocks {
		if b.Type == typ && (kind == "" || (len(b.Labels) > 0 && b.Labels[0] == kind)) {
			out = append(out, b)
		}
	}
	return out
}

func name(b *hclsyntax.Block) string { return b.Type + "." + strings.Join(b.Labels, ".") }

// nested returns the blocks of a type inside b (one level), including the
// content of `dynamic "typ"` blocks.
func nested(b *hclsyntax.Block, typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, c := range b.Body.Blocks {
		if c.Type == typ {
			out = append(out, c)
		}
		if c.Type == "dynamic" && len(c.Labels) == 1 && c.Labels[0] == typ {
			out = append(out, nested(c, "content")...)
		}
	}
	return out
}

// literal evaluates an attribute that must be a constant (no references):
// the security settings are not left to a variable.
func literal(t *testing.T, b *hclsyntax.Block, attr string) (cty.Value, bool) {
	t.Helper()
	a, ok := b.Body.Attributes[attr]
	if !ok {
		return cty.NilVal, false
	}
	if len(a.Expr.Variables()) > 0 {
		return cty.NilVal, false
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		return cty.NilVal, false
	}
	return v, true
}

// strs is a literal attribute as strings (a list or a single string);
// elements that are not constants come back as "<expr>".
func strs(b *hclsyntax.Block, attr string) []string {
	a, ok := b.Body.Attributes[attr]
	if !ok {
		return nil
	}
	var exprs []hclsyntax.Expression
	if tup, ok := a.Expr.(*hclsyntax.TupleConsExpr); ok {
		exprs = tup.Exprs
	} else {
		exprs = []hclsyntax.Expression{a.Expr}
	}
	var out []string
	for _, e := range exprs {
		v, diags := e.Value(nil)
		if diags.HasErrors() || !v.Type().Equals(cty.String) || !v.IsKnown() {
			out = append(out, "<expr>")
			continue
		}
		out = append(out, v.AsString())
	}
	return out
}

func isTrue(t *testing.T, b *hclsyntax.Block, attr string) bool {
	v, ok := literal(t, b, attr)
	return ok && v.Type() == cty.Bool && v.True()
}

func isString(t *testing.T, b *hclsyntax.Block, attr, want string) bool {
	v, ok := literal(t, b, attr)
	return ok && v.Type() == cty.String && v.AsString() == want
}

var modules = []string{"aws", "gcp"}

// TestModulesParse: every module and the fixture parse as HCL.
func TestModulesParse(t *testing.T) {
	for _, dir := range append(modules, "testdata/fixture") {
		parseModule(t, dir)
	}
}

// TestAWSInstancesRequireIMDSv2: every launch template allows only
// session tokens to the metadata service (IMDSv1 is how SSRF steals
// instance credentials), with one hop so containers cannot reach it.
func TestAWSInstancesRequireIMDSv2(t *testing.T) {
	m := parseModule(t, "aws")
	lts := m.all("resource", "aws_launch_template")
	if len(lts) < 2 {
		t.Fatalf("want the host's and the Nomad clients' launch templates, found %d", len(lts))
	}
	for _, lt := range lts {
		md := nested(lt, "metadata_options")
		if len(md) != 1 || !isString(t, md[0], "http_tokens", "required") {
			t.Errorf("%s: metadata_options.http_tokens must be the literal \"required\" (IMDSv2)", name(lt))
			continue
		}
		if v, ok := literal(t, md[0], "http_put_response_hop_limit"); !ok || !v.Equals(cty.NumberIntVal(1)).True() {
			t.Errorf("%s: http_put_response_hop_limit must be 1", name(lt))
		}
	}
	if len(m.all("resource", "aws_instance")) > 0 || len(m.all("resource", "aws_launch_configuration")) > 0 {
		t.Error("instances must come from launch templates (launch configurations cannot require IMDSv2 and new accounts cannot create them)")
	}
}

// TestAWSVolumesEncrypted: the root volumes of every template and the data
// volume are encrypted gp3.
func TestAWSVolumesEncrypted(t *testing.T) {
	m := parseModule(t, "aws")
	var disks []*hclsyntax.Block
	for _, lt := range m.all("resource", "aws_launch_template") {
		bdm := nested(lt, "block_device_mappings")
		if len(bdm) == 0 {
			t.Errorf("%s: no block_device_mappings: the root volume would be the AMI's, unencrypted", name(lt))
		}
		for _, b := range bdm {
			disks = append(disks, nested(b, "ebs")...)
		}
	}
	vols := m.all("resource", "aws_ebs_volume")
	if len(vols) != 1 {
		t.Fatalf("want one data volume, found %d", len(vols))
	}
	disks = append(disks, vols...)
	for _, d := range disks {
		if !isTrue(t, d, "encrypted") {
			t.Errorf("%s: encrypted must be the literal true", name(d))
		}
		if !isString(t, d, "volume_type", "gp3") && !isString(t, d, "type", "gp3") {
			t.Errorf("%s: want gp3", name(d))
		}
	}
	if len(m.all("resource", "aws_dlm_lifecycle_policy")) != 1 {
		t.Error("the data volume needs its DLM snapshot policy")
	}
	bucket := m.all("resource", "aws_s3_bucket_server_side_encryption_configuration")
	pab := m.all("resource", "aws_s3_bucket_public_access_block")
	if len(bucket) != 1 || len(pab) != 1 || len(m.all("resource", "aws_s3_bucket_versioning")) != 1 || len(m.all("resource", "aws_s3_bucket_lifecycle_configuration")) != 1 {
		t.Error("the backup bucket needs encryption, a public access block, versioning and a lifecycle")
	}
	for _, a := range []string{"block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"} {
		if len(pab) == 1 && !isTrue(t, pab[0], a) {
			t.Errorf("backup bucket: %s must be true", a)
		}
	}
}

// TestAWSOnlyWebIsOpen: only 80 and 443 take 0.0.0.0/0; SSH, git over SSH
// and the API take the CIDR variables, which have no open default.
func TestAWSOnlyWebIsOpen(t *testing.T) {
	m := parseModule(t, "aws")
	seen := map[float64]bool{}
	for _, r := range m.all("resource", "aws_vpc_security_group_ingress_rule") {
		port, ok := literal(t, r, "from_port")
		cidr := strs(r, "cidr_ipv4")
		if !ok {
			t.Errorf("%s: from_port must be a literal", name(r))
			continue
		}
		p, _ := port.AsBigFloat().Float64()
		seen[p] = true
		open := slices.Contains(cidr, "0.0.0.0/0") || slices.Contains(strs(r, "cidr_ipv6"), "::/0")
		if open && p != 80 && p != 443 {
			t.Errorf("%s: port %v open to the internet", name(r), p)
		}
		if (p == 22 || p == 2222 || p == 7070) && len(cidr) == 1 && cidr[0] != "<expr>" {
			t.Errorf("%s: port %v takes a fixed CIDR %s; it must come from a variable", name(r), p, cidr[0])
		}
	}
	for _, p := range []float64{80, 443, 22, 2222, 7070} {
		if !seen[p] {
			t.Errorf("no ingress rule for port %v", p)
		}
	}
	checkClosedDefaults(t, m)
}

// checkClosedDefaults: ssh_cidrs has no default (a user names it) and
// api_cidrs defaults to closed; both refuse the whole internet.
func checkClosedDefaults(t *testing.T, m module) {
	t.Helper()
	for _, v := range m.all("variable", "") {
		switch v.Labels[0] {
		case "ssh_cidrs":
			if _, ok := v.Body.Attributes["default"]; ok {
				t.Error("variable ssh_cidrs must have no default")
			}
		case "api_cidrs":
			if d, ok := literal(t, v, "default"); !ok || d.LengthInt() != 0 {
				t.Error("variable api_cidrs must default to [] (the API closed)")
			}
		default:
			continue
		}
		src := validationSource(t, m, v)
		if !strings.Contains(src, `"0.0.0.0/0"`) {
			t.Errorf("variable %s: a validation must refuse 0.0.0.0/0", v.Labels[0])
		}
	}
}

// validationSource is the source text of a variable's validation blocks.
func validationSource(t *testing.T, m module, v *hclsyntax.Block) string {
	t.Helper()
	var b strings.Builder
	for _, val := range nested(v, "validation") {
		src, err := os.ReadFile(val.Range().Filename)
		if err != nil {
			t.Fatal(err)
		}
		r := val.Range()
		b.Write(src[r.Start.Byte:r.End.Byte])
	}
	return b.String()
}

// TestAWSPoliciesLeastPrivilege: no policy document allows a wildcard
// action or NotAction; a "*" resource is allowed only under a condition
// (for actions without resource-level permissions); the host's policy
// names its own bucket prefix, volume and zone.
func TestAWSPoliciesLeastPrivilege(t *testing.T) {
	m := parseModule(t, "aws")
	docs := m.all("data", "aws_iam_policy_document")
	if len(docs) == 0 {
		t.Fatal("no aws_iam_policy_document")
	}
	for _, d := range docs {
		for _, s := range nested(d, "statement") {
			where := name(d) + " statement " + strings.Join(strs(s, "sid"), "")
			if _, ok := s.Body.Attributes["not_actions"]; ok {
				t.Errorf("%s: not_actions grants everything else", where)
			}
			if _, ok := s.Body.Attributes["not_resources"]; ok {
				t.Errorf("%s: not_resources", where)
			}
			for _, a := range strs(s, "actions") {
				if strings.Contains(a, "*") || a == "<expr>" {
					t.Errorf("%s: action %q: name each action", where, a)
				}
			}
			deny := isString(t, s, "effect", "Deny")
			for _, r := range strs(s, "resources") {
				if r == "*" && !deny && len(nested(s, "condition")) == 0 {
					t.Errorf("%s: resource \"*\" without a condition", where)
				}
			}
		}
	}
	host := m.all("data", "aws_iam_policy_document")
	var hostDoc *hclsyntax.Block
	for _, d := range host {
		if d.Labels[1] == "pier" {
			hostDoc = d
		}
	}
	if hostDoc == nil {
		t.Fatal("no data.aws_iam_policy_document.pier for the host")
	}
	src := blockSource(t, hostDoc)
	for _, want := range []string{"aws_s3_bucket.backups.arn}/pier/*", "aws_ebs_volume.data.arn", "hostedzone/${var.zone_id}", "cloudwatch:namespace", "_acme-challenge"} {
		if !strings.Contains(src, want) {
			t.Errorf("the host's policy does not scope to %s", want)
		}
	}
	for _, a := range m.all("resource", "aws_iam_role_policy_attachment") {
		arn := blockSource(t, a)
		if !strings.Contains(arn, "AmazonSSMManagedInstanceCore") && !strings.Contains(arn, "AWSDataLifecycleManagerServiceRole") {
			t.Errorf("%s: only AWS's SSM core and DLM service policies may be attached", name(a))
		}
	}
}

func blockSource(t *testing.T, b *hclsyntax.Block) string {
	t.Helper()
	src, err := os.ReadFile(b.Range().Filename)
	if err != nil {
		t.Fatal(err)
	}
	r := b.Range()
	return string(src[r.Start.Byte:r.End.Byte])
}

// TestAWSGroupOfOne: the host runs in an auto-scaling group of exactly
// one, in the data volume's subnet, replaced on failed status checks.
func TestAWSGroupOfOne(t *testing.T) {
	m := parseModule(t, "aws")
	var asg *hclsyntax.Block
	for _, g := range m.all("resource", "aws_autoscaling_group") {
		if g.Labels[1] == "pier" {
			asg = g
		}
	}
	if asg == nil {
		t.Fatal("no aws_autoscaling_group.pier")
	}
	for _, a := range []string{"min_size", "max_size", "desired_capacity"} {
		if v, ok := literal(t, asg, a); !ok || !v.Equals(cty.NumberIntVal(1)).True() {
			t.Errorf("aws_autoscaling_group.pier: %s must be 1", a)
		}
	}
	if !isString(t, asg, "health_check_type", "EC2") {
		t.Error("aws_autoscaling_group.pier: health_check_type must be EC2 (replace on failed status checks)")
	}
}

// TestGCPOnlyWebIsOpen: only 80 and 443 take 0.0.0.0/0.
func TestGCPOnlyWebIsOpen(t *testing.T) {
	m := parseModule(t, "gcp")
	for _, r := range m.all("resource", "google_compute_firewall") {
		open := slices.Contains(strs(r, "source_ranges"), "0.0.0.0/0")
		for _, allow := range nested(r, "allow") {
			for _, p := range strs(allow, "ports") {
				if open && p != "80" && p != "443" {
					t.Errorf("%s: port %s open to the internet", name(r), p)
				}
			}
		}
	}
	checkClosedDefaults(t, m)
}

// TestGCPHostHardened: Shielded VM, OS Login with project-wide SSH keys
// blocked, its own service account, encrypted disks (Google encrypts every
// persistent disk; kms_key switches to a key of the user's), and a group of
// one that auto-heals on /readyz with the data disk stateful.
func TestGCPHostHardened(t *testing.T) {
	m := parseModule(t, "gcp")
	tmpls := m.all("resource", "google_compute_instance_template")
	if len(tmpls) != 1 {
		t.Fatalf("want one instance template, found %d", len(tmpls))
	}
	tmpl := tmpls[0]
	sh := nested(tmpl, "shielded_instance_config")
	if len(sh) != 1 || !isTrue(t, sh[0], "enable_secure_boot") || !isTrue(t, sh[0], "enable_integrity_monitoring") {
		t.Error("instance template: Shielded VM with secure boot and integrity monitoring")
	}
	md, ok := tmpl.Body.Attributes["metadata"].Expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		t.Fatal("instance template: metadata must be an object")
	}
	got := map[string]string{}
	for _, it := range md.Items {
		k, _ := it.KeyExpr.Value(nil)
		if v, diags := it.ValueExpr.Value(nil); !diags.HasErrors() && v.Type() == cty.String {
			got[k.AsString()] = v.AsString()
		}
	}
	if got["enable-oslogin"] != "TRUE" || got["block-project-ssh-keys"] != "TRUE" {
		t.Errorf("instance template metadata: want enable-oslogin and block-project-ssh-keys TRUE, got %v", got)
	}
	sa := nested(tmpl, "service_account")
	if len(sa) != 1 || !strings.Contains(blockSource(t, sa[0]), "google_service_account.pier.email") {
		t.Error("instance template: the host runs as its own service account, not the default one")
	}
	for _, d := range append(nested(tmpl, "disk"), m.all("resource", "google_compute_disk")...) {
		if !strings.Contains(blockSource(t, d), "kms_key_self_link") {
			t.Errorf("%s: no disk_encryption_key for kms_key", name(d))
		}
	}
	igm := m.all("resource", "google_compute_instance_group_manager")
	if len(igm) != 1 {
		t.Fatal("want one managed instance group")
	}
	if v, ok := literal(t, igm[0], "target_size"); !ok || !v.Equals(cty.NumberIntVal(1)).True() {
		t.Error("the managed group must hold exactly one instance")
	}
	if len(nested(igm[0], "auto_healing_policies")) != 1 || len(nested(igm[0], "stateful_disk")) != 1 {
		t.Error("the managed group needs auto-healing and the stateful data disk")
	}
	hc := m.all("resource", "google_compute_health_check")
	if len(hc) != 1 || !strings.Contains(blockSource(t, hc[0]), `"/readyz"`) {
		t.Error("auto-healing checks /readyz")
	}
	if len(m.all("resource", "google_compute_resource_policy")) != 1 || len(m.all("resource", "google_compute_disk_resource_policy_attachment")) != 1 {
		t.Error("the data disk needs its snapshot schedule")
	}
	for _, b := range m.all("resource", "google_storage_bucket") {
		if !isTrue(t, b, "uniform_bucket_level_access") || !isString(t, b, "public_access_prevention", "enforced") || len(nested(b, "versioning")) != 1 || len(nested(b, "lifecycle_rule")) == 0 {
			t.Errorf("%s: uniform access, public access prevention, versioning and a lifecycle", name(b))
		}
	}
}

// TestGCPLeastPrivilege: no basic role anywhere; project-wide only the log
// and metric writers; everything else on the one resource it is for.
func TestGCPLeastPrivilege(t *testing.T) {
	m := parseModule(t, "gcp")
	project := []string{"roles/logging.logWriter", "roles/monitoring.metricWriter"}
	for _, b := range m.blocks {
		if b.Type != "resource" || !strings.Contains(b.Labels[0], "iam") {
			continue
		}
		role := strings.Join(strs(b, "role"), "")
		if role == "roles/owner" || role == "roles/editor" || role == "roles/viewer" || role == "<expr>" {
			t.Errorf("%s: role %s", name(b), role)
		}
		if b.Labels[0] == "google_project_iam_member" && !slices.Contains(project, role) {
			t.Errorf("%s: %s project-wide; grant it on the resource", name(b), role)
		}
		if strings.HasSuffix(b.Labels[0], "_iam_binding") || strings.HasSuffix(b.Labels[0], "_iam_policy") {
			t.Errorf("%s: authoritative IAM would remove others' grants; use _iam_member", name(b))
		}
	}
}

// TestOutputsPresent: the URLs, the address and the host's handles.
func TestOutputsPresent(t *testing.T) {
	want := map[string][]string{
		"aws": {"control_url", "apps_url", "public_ip", "autoscaling_group", "data_volume_id", "backup_url"},
		"gcp": {"control_url", "apps_url", "public_ip", "instance_group", "data_disk", "backup_url"},
	}
	for _, dir := range modules {
		m := parseModule(t, dir)
		for _, o := range want[dir] {
			found := false
			for _, b := range m.all("output", o) {
				found = true
				if _, ok := b.Body.Attributes["description"]; !ok {
					t.Errorf("%s: output %s has no description", dir, o)
				}
			}
			if !found {
				t.Errorf("%s: no output %s", dir, o)
			}
		}
	}
}

// TestVariablesValidated: every variable but a switch has a type, a
// description and a validation whose message names it; variables.tf holds
// them all and nothing else, so it can be planned alone
// (TestVariableValidationMessages).
func TestVariablesValidated(t *testing.T) {
	for _, dir := range modules {
		m := parseModule(t, dir)
		for _, v := range m.all("variable", "") {
			n := v.Labels[0]
			where := dir + ": variable " + n
			if filepath.Base(v.Range().Filename) != "variables.tf" {
				t.Errorf("%s is outside variables.tf", where)
			}
			if _, ok := v.Body.Attributes["description"]; !ok {
				t.Errorf("%s has no description", where)
			}
			typ, ok := v.Body.Attributes["type"]
			if !ok {
				t.Errorf("%s has no type", where)
				continue
			}
			if hcl.ExprAsKeyword(typ.Expr) == "bool" {
				continue
			}
			vals := nested(v, "validation")
			if len(vals) == 0 {
				t.Errorf("%s has no validation", where)
			}
			for _, val := range vals {
				msg := strs(val, "error_message")
				if len(msg) != 1 || !strings.HasPrefix(msg[0], n+" ") {
					t.Errorf("%s: error_message must start with the variable's name, got %q", where, msg)
				}
			}
		}
		src, err := os.ReadFile(filepath.Join(dir, "variables.tf"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(src), "local.") {
			t.Errorf("%s/variables.tf refers to locals: it must plan alone", dir)
		}
	}
}

// TestBootScriptIsShared: both modules render the same cloud-init with the
// same boot script, which checks the binary's SHA-256, and both have the
// agent back up to their bucket on a schedule.
func TestBootScriptIsShared(t *testing.T) {
	for _, dir := range modules {
		src, err := os.ReadFile(filepath.Join(dir, "main.tf"))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`"${path.module}/../boot/cloud-init.yaml.tftpl"`, `"${path.module}/../boot/pier-boot.sh"`, "PIER_BOOT_SHA256", "PIER_BACKUP_TO", "PIER_BACKUP_SCHEDULE"} {
			if !strings.Contains(string(src), want) {
				t.Errorf("%s/main.tf does not use %s", dir, want)
			}
		}
	}
	script, err := os.ReadFile("boot/pier-boot.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sha256sum", "backup restore", "install --data-dir"} {
		if !strings.Contains(string(script), want) {
			t.Errorf("boot/pier-boot.sh does not run %s", want)
		}
	}
}

// TestWildcardByDNS01: each module tells the agent to obtain the apps'
// wildcard by DNS-01 in the zone its identity may change, by the zone's id
// or name (the instance profile may not list zones), and on GCP with the
// project.
func TestWildcardByDNS01(t *testing.T) {
	want := map[string][]string{
		"aws": {`PIER_ACME_DNS          = "route53"`, `PIER_ACME_DNS_ZONE     = var.zone_id`},
		"gcp": {`PIER_ACME_DNS         = "gcloud"`, `PIER_ACME_DNS_ZONE    = var.dns_zone`, `PIER_ACME_DNS_PROJECT = var.project`},
	}
	for dir, lines := range want {
		src, err := os.ReadFile(filepath.Join(dir, "main.tf"))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			if !strings.Contains(string(src), l) {
				t.Errorf("%s/main.tf does not set %s", dir, l)
			}
		}
	}
}
