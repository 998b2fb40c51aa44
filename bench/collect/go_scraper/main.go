// go_scraper: the Go baseline of bench/collect's per-scrape CPU (issue 16 item 1): a plain
// net/http client (keep-alive) and prometheus/common expfmt's TextParser fetching and parsing
// one URL again and again, as a Go exporter-side scraper would. Built offline from Debian's
// golang-github-prometheus-common-dev, like tests/differential/expfmt_dump:
//
//	cd bench/collect/go_scraper && GO111MODULE=off GOPATH=/usr/share/gocode go build -o go_scraper .
//
// Usage: go_scraper URL SCRAPES
// Prints one line: "scrapes N cpu_us_per_scrape X wall_us_per_scrape Y families F" (CPU is
// this process's user+system time from getrusage, all threads, so the GC counts too).
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/common/expfmt"
)

func cpuMicros() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec)*1e6 + float64(ru.Utime.Usec+ru.Stime.Usec)
}

func scrape(c *http.Client, url string) (int, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		io.Copy(io.Discard, resp.Body)
		return 0, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	var p expfmt.TextParser
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, err
	}
	return len(families), nil
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go_scraper URL SCRAPES")
		os.Exit(2)
	}
	url := os.Args[1]
	n, err := strconv.Atoi(os.Args[2])
	if err != nil || n < 1 || n > 1000000 {
		fmt.Fprintln(os.Stderr, "SCRAPES must be 1..1000000")
		os.Exit(2)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	if _, err := scrape(c, url); err != nil { // warm-up: the connection and the code paths
		fmt.Fprintln(os.Stderr, "scrape:", err)
		os.Exit(1)
	}
	families := 0
	cpu0, t0 := cpuMicros(), time.Now()
	for i := 0; i < n; i++ {
		f, err := scrape(c, url)
		if err != nil {
			fmt.Fprintln(os.Stderr, "scrape:", err)
			os.Exit(1)
		}
		families = f
	}
	wall := float64(time.Since(t0).Microseconds())
	fmt.Printf("scrapes %d cpu_us_per_scrape %.1f wall_us_per_scrape %.1f families %d\n", n,
		(cpuMicros()-cpu0)/float64(n), wall/float64(n), families)
}
