// expfmt_dump: the Go side of nim-scaler's differential test and benchmark for the
// exposition parser. It uses prometheus/common expfmt's TextParser (Debian's
// golang-github-prometheus-common-dev), built offline:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o expfmt_dump .
//
// Usage:
//
//	expfmt_dump dump FILE        canonical rows on stdout; exit 2 and the error on stderr
//	                             when expfmt rejects the file
//	expfmt_dump bench MS FILE... one line per file: name bytes samples ns_per_parse
//
// A body without a final newline gets one appended before parsing: expfmt insists on it,
// Prometheus does not, and the samples are the same either way.
//
// Canonical rows (sorted) describe what expfmt understood, flattened back to samples:
//
//	F <family> <type>
//	S <family> <sample name> <k=hex(v),... sorted> <value> <timestamp ms or ->
//
// Values print as %016x of their float64 bits ("NaN" for any NaN); `le` and `quantile`
// label values print the same way, since expfmt keeps only their parsed float. Histogram
// and summary counts are uint64 in expfmt, so they print as float64(uint64(v)).
package main

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

func num(v float64) string {
	if math.IsNaN(v) {
		return "NaN"
	}
	return fmt.Sprintf("%016x", math.Float64bits(v))
}

func labels(m *dto.Metric, extraName string, extra float64) string {
	var parts []string
	for _, lp := range m.GetLabel() {
		parts = append(parts, lp.GetName()+"="+hex.EncodeToString([]byte(lp.GetValue())))
	}
	if extraName != "" {
		parts = append(parts, extraName+"="+num(extra))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func rows(families map[string]*dto.MetricFamily) []string {
	var out []string
	for name, mf := range families {
		if len(mf.GetMetric()) == 0 {
			continue
		}
		typ := strings.ToLower(mf.GetType().String())
		out = append(out, fmt.Sprintf("F\t%s\t%s", name, typ))
		for _, m := range mf.GetMetric() {
			ts := "-"
			if m.TimestampMs != nil {
				ts = strconv.FormatInt(m.GetTimestampMs(), 10)
			}
			row := func(sample, lbls string, v float64, t string) {
				out = append(out, fmt.Sprintf("S\t%s\t%s\t%s\t%s\t%s", name, sample, lbls, num(v), t))
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				row(name, labels(m, "", 0), m.GetCounter().GetValue(), ts)
			case dto.MetricType_GAUGE:
				row(name, labels(m, "", 0), m.GetGauge().GetValue(), ts)
			case dto.MetricType_UNTYPED:
				row(name, labels(m, "", 0), m.GetUntyped().GetValue(), ts)
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				for _, q := range s.GetQuantile() {
					row(name, labels(m, "quantile", q.GetQuantile()), q.GetValue(), "-")
				}
				if s.SampleSum != nil {
					row(name+"_sum", labels(m, "", 0), s.GetSampleSum(), "-")
				}
				if s.SampleCount != nil {
					row(name+"_count", labels(m, "", 0), float64(s.GetSampleCount()), "-")
				}
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				for _, b := range h.GetBucket() {
					row(name+"_bucket", labels(m, "le", b.GetUpperBound()), float64(b.GetCumulativeCount()), "-")
				}
				if h.SampleSum != nil {
					row(name+"_sum", labels(m, "", 0), h.GetSampleSum(), "-")
				}
				if h.SampleCount != nil {
					row(name+"_count", labels(m, "", 0), float64(h.GetSampleCount()), "-")
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func load(path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		data = append(data, '\n')
	}
	return data
}

func parse(data []byte) (map[string]*dto.MetricFamily, error) {
	var p expfmt.TextParser
	return p.TextToMetricFamilies(bytes.NewReader(data))
}

func main() {
	if len(os.Args) >= 3 && os.Args[1] == "dump" {
		families, err := parse(load(os.Args[2]))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		for _, r := range rows(families) {
			fmt.Println(r)
		}
		return
	}
	if len(os.Args) >= 4 && os.Args[1] == "bench" {
		ms, err := strconv.Atoi(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, "bad duration:", err)
			os.Exit(1)
		}
		for _, path := range os.Args[3:] {
			data := load(path)
			families, err := parse(data)
			if err != nil {
				fmt.Printf("%s\t%d\t-\t-\t%s\n", path, len(data), strings.ReplaceAll(err.Error(), "\t", " "))
				continue
			}
			samples := 0
			for _, r := range rows(families) {
				if strings.HasPrefix(r, "S\t") {
					samples++
				}
			}
			budget := time.Duration(ms) * time.Millisecond
			iters := 0
			start := time.Now()
			for time.Since(start) < budget || iters < 3 {
				if _, err := parse(data); err != nil {
					panic(err)
				}
				iters++
			}
			ns := float64(time.Since(start).Nanoseconds()) / float64(iters)
			fmt.Printf("%s\t%d\t%d\t%.0f\n", path, len(data), samples, ns)
		}
		return
	}
	fmt.Fprintln(os.Stderr, "usage: expfmt_dump dump FILE | bench MS FILE...")
	os.Exit(1)
}
