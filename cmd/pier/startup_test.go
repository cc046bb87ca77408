package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// compilesAtInit are the calls that must not run in a package variable's
// initialisation: by import path, the functions that compile or parse.
var compilesAtInit = map[string][]string{
	"regexp":        {"MustCompile", "Compile", "MustCompilePOSIX", "CompilePOSIX"},
	"text/template": {"Must"},
	"html/template": {"Must"},
}

// TestNothingCompiledAtStart: every start of the binary, each CLI command
// included, runs the initialisation of every package linked in. pier's own
// packages compile their regular expressions and parse their templates on
// first use (sync.OnceValue), not there: a bounded repeat such as {0,62}
// costs hundreds of allocations to compile (docs/proxy.md, "Rollback to
// the standby").
func TestNothingCompiledAtStart(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}{{"\t"}}{{.Dir}}{{"\t"}}{{join .GoFiles " "}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, rest, _ := strings.Cut(line, "\t")
		dir, files, _ := strings.Cut(rest, "\t")
		if path != mod && !strings.HasPrefix(path, mod+"/") {
			continue
		}
		for _, name := range strings.Fields(files) {
			file, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			checked++
			for _, pos := range compilesInVars(file) {
				t.Errorf("%s: a package variable compiles at start; compile it on first use (sync.OnceValue)", fset.Position(pos))
			}
		}
	}
	if checked == 0 {
		t.Fatal("no pier sources found")
	}
}

// compilesInVars are the calls of compilesAtInit in file's package-level
// variable initialisers, outside function literals (which run later).
func compilesInVars(file *ast.File) []token.Pos {
	banned := map[string][]string{} // local package name -> functions
	for _, im := range file.Imports {
		path, _ := strconv.Unquote(im.Path.Value)
		if fns, ok := compilesAtInit[path]; ok {
			name := path[strings.LastIndex(path, "/")+1:]
			if im.Name != nil {
				name = im.Name.Name
			}
			banned[name] = fns
		}
	}
	var found []token.Pos
	for _, decl := range file.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.VAR {
			continue
		}
		ast.Inspect(gd, func(n ast.Node) bool {
			if _, ok := n.(*ast.FuncLit); ok {
				return false
			}
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok {
				if pkg, ok := sel.X.(*ast.Ident); ok && slices.Contains(banned[pkg.Name], sel.Sel.Name) {
					found = append(found, call.Pos())
				}
			}
			return true
		})
	}
	return found
}
