package buildpacktest

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// No package index is reachable from the tests: Python apps install
// wheels the tests write into a directory (PIP_FIND_LINKS with
// PIP_NO_INDEX), as an app points PIP_INDEX_URL at an index of its own.

// GreetlibSHA256 is the sha256 of the greetlib wheel Wheels writes, as the
// lock files in buildpacks/testdata pin it: the wheel is stored (not
// deflated) with fixed times, so its bytes never change.
const GreetlibSHA256 = "4373abd1f8be1b4e3b3c47eeee602a089825eb0c340af9b54378a6967ca334cf"

// Wheels writes into dir greetlib-1.0-py3-none-any.whl (greet(who), and a
// console script greet) and a stand-in for Django 5.1 (the package
// django, for the buildpack to find installed; a fixture's manage.py does
// collectstatic's work). devlib and winlib, which the lock files name for
// development and for Windows, are missing on purpose: a build that tried
// to install them fails.
func Wheels(t testing.TB, dir string) string {
	t.Helper()
	greetlib := Wheel(t, dir, "greetlib", "1.0", map[string]string{
		"greetlib/__init__.py": "def greet(who):\n    return 'hello, ' + who\n\n\ndef main():\n    print(greet('console'))\n",
	}, "[console_scripts]\ngreet = greetlib:main\n")
	if greetlib != GreetlibSHA256 {
		t.Fatalf("the greetlib wheel's sha256 is %s, but the lock files in testdata pin %s: update them", greetlib, GreetlibSHA256)
	}
	Wheel(t, dir, "django", "5.1", map[string]string{"django/__init__.py": "__version__ = '5.1'\n"}, "")
	return dir
}

// Wheel writes a pure-Python wheel of files into dir and returns its
// sha256.
func Wheel(t testing.TB, dir, name, version string, files map[string]string, entryPoints string) string {
	t.Helper()
	all := map[string]string{}
	for n, b := range files {
		all[n] = b
	}
	info := name + "-" + version + ".dist-info/"
	all[info+"METADATA"] = "Metadata-Version: 2.1\nName: " + name + "\nVersion: " + version + "\n"
	all[info+"WHEEL"] = "Wheel-Version: 1.0\nGenerator: pier-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
	if entryPoints != "" {
		all[info+"entry_points.txt"] = entryPoints
	}
	var names []string
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	record := ""
	for _, n := range names {
		record += n + ",,\n"
	}
	all[info+"RECORD"] = record + info + "RECORD,,\n"
	names = append(names, info+"RECORD")
	path := filepath.Join(dir, name+"-"+version+"-py3-none-any.whl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, n := range names {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Store, Modified: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(all[n])); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
