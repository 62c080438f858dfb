// Command gendrives writes the demo candump drives of testdata/candumps from
// the demo vehicle's DBC. Run it with `go generate ./sim`.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/dbc"
	"github.com/kanal-dev/kanal/sim"
)

func main() {
	dir := flag.String("dir", "testdata/candumps", "directory with kanal_demo.dbc; drives are written here")
	flag.Parse()
	if err := run(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "gendrives:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	db, err := dbc.Load(filepath.Join(dir, "kanal_demo.dbc"))
	if err != nil {
		return err
	}
	for _, sc := range sim.DemoDrives() {
		path := filepath.Join(dir, sc.Name+".log")
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("create drive: %w", err)
		}
		w := can.NewLogWriter(f)
		st, err := sim.Drive(db, sc, w)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		fmt.Printf("%s: %d frames, %.0f s, %d bytes\n", path, st.Frames, st.Seconds, w.Size())
		for _, e := range st.Events {
			fmt.Println("  ", e)
		}
	}
	return nil
}
