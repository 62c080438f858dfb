package dbc

import (
	"os"
	"path/filepath"
	"testing"
)

// sharedDir returns ../../shared/<sub> (the project's shared test material,
// outside the repository) or skips the test when it is absent.
func sharedDir(tb testing.TB, sub string) string {
	tb.Helper()
	dir := filepath.Join("..", "..", "shared", sub)
	if _, err := os.Stat(dir); err != nil {
		tb.Skipf("shared test material not found at %s: %v", dir, err)
	}
	return dir
}

// sharedDBCs loads every DBC file of ../../shared/dbc.
func sharedDBCs(tb testing.TB) map[string]*Database {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(sharedDir(tb, "dbc"), "*.dbc"))
	if err != nil || len(files) == 0 {
		tb.Skipf("no DBC files in shared/dbc: %v", err)
	}
	dbs := map[string]*Database{}
	for _, f := range files {
		db, err := Load(f)
		if err != nil {
			tb.Fatalf("load %s: %v", f, err)
		}
		dbs[filepath.Base(f)] = db
	}
	return dbs
}
