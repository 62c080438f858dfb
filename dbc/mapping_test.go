package dbc

import (
	"testing"

	"github.com/kanal-dev/kanal/catalog"
)

const (
	demoDBC     = "../testdata/candumps/kanal_demo.dbc"
	demoMapping = "../testdata/candumps/kanal_demo.mapping.yaml"
)

func demoDatabases(t testing.TB) BusDatabases {
	t.Helper()
	db, err := Load(demoDBC)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range db.Problems {
		t.Errorf("demo DBC problem: %s", p)
	}
	return BusDatabases{"can0": {db}}
}

func TestLoadDemoMapping(t *testing.T) {
	m, err := LoadMapping(demoMapping, catalog.Default(), demoDatabases(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Log(len(m.Rules))
}
