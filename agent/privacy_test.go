package agent

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/kanal-dev/kanal/can"
	"github.com/kanal-dev/kanal/dbc"
	"github.com/kanal-dev/kanal/internal/brokertest"
	"github.com/kanal-dev/kanal/internal/freeport"
	"github.com/kanal-dev/kanal/internal/wire"
)

// positions returns every precise coordinate of a drive, as the decoder
// makes them (degrees) and as the frame carries them (raw integers).
func positions(t *testing.T, log string) (deg []float64, raw []int32) {
	t.Helper()
	pipe, err := dbc.NewPipeline(dbc.PipelineOptions{DBC: []string{demoDBC}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	lr, err := can.OpenLog(log, can.LogReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer lr.Close()
	seenD, seenR := map[float64]bool{}, map[int32]bool{}
	var fv dbc.FrameValues
	for {
		f, err := lr.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pipe.Decode(&f, &fv)
		if fv.Result.Status != dbc.Decoded || fv.Plan.Message(fv.Result.Msg).Name != "GNSS_Position" {
			continue
		}
		for _, v := range fv.Values {
			if !seenD[v.Num] {
				seenD[v.Num] = true
				deg = append(deg, v.Num)
			}
			if r := int32(v.Raw); !seenR[r] {
				seenR[r] = true
				raw = append(raw, r)
			}
		}
	}
	if len(deg) < 100 {
		t.Fatalf("only %d distinct coordinates in %s", len(deg), log)
	}
	return deg, raw
}

// leakSearch counts where the precise coordinates appear in data, by form.
type leakSearch struct {
	exact [][]byte // forms no chance collision can produce: 8-byte floats, decimal text
	short [][]byte // 4- and 5-byte forms, which random bytes match now and then
}

func newLeakSearch(deg []float64, raw []int32) *leakSearch {
	s := &leakSearch{}
	for _, d := range deg {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(d))
		s.exact = append(s.exact, bytes.Clone(b[:]))
		binary.BigEndian.PutUint64(b[:], math.Float64bits(d))
		s.exact = append(s.exact, bytes.Clone(b[:]))
		for _, prec := range []int{-1, 7, 6, 5} {
			s.exact = append(s.exact, []byte(strconv.FormatFloat(d, 'f', prec, 64)))
		}
		binary.LittleEndian.PutUint32(b[:4], math.Float32bits(float32(d)))
		s.short = append(s.short, bytes.Clone(b[:4]))
		binary.BigEndian.PutUint32(b[:4], math.Float32bits(float32(d)))
		s.short = append(s.short, bytes.Clone(b[:4]))
	}
	for _, r := range raw {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(r))
		s.short = append(s.short, bytes.Clone(b[:]))
		binary.BigEndian.PutUint32(b[:], uint32(r))
		s.short = append(s.short, bytes.Clone(b[:]))
		s.short = append(s.short, protowire.AppendVarint(nil, protowire.EncodeZigZag(int64(r))))
		s.short = append(s.short, protowire.AppendVarint(nil, uint64(uint32(r))))
	}
	return s
}

// search reports the exact hits and the number of short hits in data.
func (s *leakSearch) search(data []byte) (exact []string, short int) {
	for _, p := range s.exact {
		if bytes.Contains(data, p) {
			exact = append(exact, strconv.Quote(string(p)))
		}
	}
	for _, p := range s.short {
		short += bytes.Count(data, p)
	}
	return exact, short
}

// body returns the decompressed body of a batch payload, read with
// protowire from the schema (field 2 of the outer message), independently
// of the codec's own decoder.
func body(t *testing.T, payload []byte) []byte {
	t.Helper()
	b := payload
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatal("payload is not protobuf")
		}
		b = b[n:]
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		b = b[n:]
		if num != 2 {
			continue
		}
		dec, err := zstd.NewReader(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer dec.Close()
		if out, err := dec.DecodeAll(v, nil); err == nil {
			return out
		}
		return v // stored without compression
	}
	t.Fatal("payload without a body")
	return nil
}

// TestPrecisePositionsNeverLeave runs the fog drive through the agent and
// searches, byte by byte, everything that could carry a position out of
// the vehicle: the spool files, every payload as sent and decompressed,
// the logs at debug level and the metrics. The precise coordinates must
// appear in none of them, as float64, float32, their raw DBC integers
// (also as protobuf varints) or decimal text.
func TestPrecisePositionsNeverLeave(t *testing.T) {
	deg, raw := positions(t, fogDrive)
	leaks := newLeakSearch(deg, raw)
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	check := func(what string, data []byte) {
		t.Helper()
		exact, short := leaks.search(data)
		if len(exact) > 0 {
			t.Errorf("%s (%d bytes) holds precise coordinates: %v", what, len(data), exact[:min(5, len(exact))])
		}
		// chance alone matches a 4-byte pattern about len(data)/2^32 times
		// each; a leak of the drive's positions would match hundreds
		if expect := float64(len(leaks.short)) * float64(len(data)) / (1 << 32); short > 3+int(4*expect) {
			t.Errorf("%s: %d matches of short coordinate forms, chance explains about %.2f", what, short, expect)
		}
	}

	// first run: no gateway, so every batch stays in the spool
	cfg := testConfig(t, "mqtt://127.0.0.1:1", fogDrive)
	cfg.Spool.Fsync = ""
	cfg.DrainTimeout = 200 * time.Millisecond
	cfg.Sources.Replay.KeepTime = true
	addrs, err := freeport.Addrs(1)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Metrics.Listen = addrs[0]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, err := New(cfg, Options{Logger: logger, Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var metrics []byte
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && metrics == nil; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + cfg.Metrics.Listen + "/metrics"); err == nil {
			metrics, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
	}
	if err := <-done; err == nil {
		t.Fatal("the first run drained without a gateway")
	}
	check("metrics", metrics)
	var spoolBytes int
	filepath.WalkDir(cfg.Spool.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		spoolBytes += len(data)
		check("spool file "+filepath.Base(path), data)
		return nil
	})
	if spoolBytes < 10_000 {
		t.Fatalf("the spool holds %d bytes: the test searched nothing", spoolBytes)
	}

	// second run: a gateway takes everything the spool kept
	br := brokertest.Start(t, brokertest.Options{})
	cfg.Uplink.Broker = br.URL()
	cfg.Sources.Replay.File = writeLog(t, "")
	cfg.Metrics.Listen = ""
	cfg.DrainTimeout = 20 * time.Second
	b, err := New(cfg, Options{Logger: logger, Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Run(ctx); err != nil {
		t.Fatal(err)
	}
	msgs := br.Messages("")
	var sent int
	for _, m := range msgs {
		check("payload on "+m.Topic, m.Payload)
		if m.Topic == wire.BatchTopic(vehicle) {
			bd := body(t, m.Payload)
			sent += len(bd)
			check("decompressed body", bd)
		}
	}
	if sent < 10_000 {
		t.Fatalf("%d bytes of bodies sent: the test searched nothing", sent)
	}
	check("logs", logs.Bytes())
	t.Logf("searched %d coordinates in %d spool bytes, %d payloads (%d body bytes) and %d log bytes", len(deg), spoolBytes, len(msgs), sent, logs.Len())
}
