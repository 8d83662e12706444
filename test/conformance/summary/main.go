// Command summary reads the JUnit reports of a conformance run and prints,
// per SIG, how many specs passed, failed and were skipped, then the names
// of the failed specs. It exits 1 when any spec failed.
//
//	go run ./test/conformance/summary parallel=DIR serial=DIR
//	go run ./test/conformance/summary -failed-focus parallel=DIR ...
//
// Each argument is a phase name and a folder (or file) of JUnit XML; the
// phases are reported one table each, then together. With -failed-focus
// it prints instead a ginkgo focus regex matching exactly the failed
// specs, to run them again (FOCUS=... make conformance).
package main

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "-failed-focus" {
		focus, err := failedFocus(args[1:])
		if err != nil {
			fmt.Fprintln(os.Stderr, "summary:", err)
			os.Exit(2)
		}
		fmt.Println(focus)
		return
	}
	failed, err := run(args, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "summary:", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}

// junitSuites is the part of a JUnit report the summary reads; ginkgo
// writes <testsuites><testsuite><testcase>.
type junitSuites struct {
	Suites []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Time  float64     `xml:"time,attr"`
	Cases []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name    string    `xml:"name,attr"`
	Status  string    `xml:"status,attr"`
	Time    float64   `xml:"time,attr"`
	Failure *struct{} `xml:"failure"`
	Error   *struct{} `xml:"error"`
	Skipped *struct {
		Message string `xml:"message,attr"`
	} `xml:"skipped"`
}

// outcome is one spec's result.
type outcome int

const (
	passed outcome = iota
	failed
	skipped
)

// spec is one spec of one phase.
type spec struct {
	name   string
	sig    string
	result outcome
}

// phase is the specs one run reported.
type phase struct {
	name  string
	specs []spec
	wall  time.Duration
}

var sigRE = regexp.MustCompile(`\[(sig-[a-z0-9-]+)\]`)

// readPhase reads every *.xml under path (a folder or one file).
func readPhase(name, path string) (phase, error) {
	p := phase{name: name}
	files := []string{path}
	if st, err := os.Stat(path); err != nil {
		return p, err
	} else if st.IsDir() {
		files, _ = filepath.Glob(filepath.Join(path, "*.xml"))
		if len(files) == 0 {
			return p, fmt.Errorf("no JUnit report in %s", path)
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return p, err
		}
		var s junitSuites
		if err := xml.Unmarshal(data, &s); err != nil {
			return p, fmt.Errorf("read %s: %w", f, err)
		}
		for _, suite := range s.Suites {
			p.wall += time.Duration(suite.Time * float64(time.Second))
			for _, c := range suite.Cases {
				isFailure := c.Failure != nil || c.Error != nil || c.Status == "failed" || c.Status == "panicked" || c.Status == "timedout"
				// ginkgo reports its suite-level nodes ([BeforeSuite],
				// [ReportAfterSuite], ...) as cases too: they count only
				// when they fail.
				if !strings.HasPrefix(c.Name, "[It] ") && !isFailure {
					continue
				}
				// Specs the run's focus and skip filtered out are
				// reported skipped with the bare message "skipped"; a
				// spec that skipped itself says why.
				if c.Skipped != nil && c.Skipped.Message == "skipped" {
					continue
				}
				sp := spec{name: c.Name, sig: "other"}
				if m := sigRE.FindStringSubmatch(c.Name); m != nil {
					sp.sig = m[1]
				}
				switch {
				case isFailure:
					sp.result = failed
				case c.Skipped != nil || c.Status == "skipped" || c.Status == "pending":
					sp.result = skipped
				}
				p.specs = append(p.specs, sp)
			}
		}
	}
	return p, nil
}

// run reads the phases named by args and writes the summary to w; it
// reports whether any spec failed.
func run(args []string, w io.Writer) (bool, error) {
	if len(args) == 0 {
		return false, fmt.Errorf("usage: summary PHASE=DIR ...")
	}
	var phases []phase
	for _, a := range args {
		name, path, ok := strings.Cut(a, "=")
		if !ok {
			return false, fmt.Errorf("argument %q is not PHASE=DIR", a)
		}
		p, err := readPhase(name, path)
		if err != nil {
			return false, err
		}
		phases = append(phases, p)
	}
	all := phase{name: "total"}
	for _, p := range phases {
		all.specs = append(all.specs, p.specs...)
		all.wall += p.wall
		writeTable(w, p)
	}
	if len(phases) > 1 {
		writeTable(w, all)
	}
	var names []string
	for _, s := range all.specs {
		if s.result == failed {
			names = append(names, s.name)
		}
	}
	sort.Strings(names)
	if len(names) > 0 {
		fmt.Fprintf(w, "failed specs (%d):\n", len(names))
		for _, n := range names {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
	return len(names) > 0, nil
}

// writeTable writes one phase's Markdown table: a row per SIG and a total.
func writeTable(w io.Writer, p phase) {
	type counts [3]int
	bySIG := map[string]*counts{}
	var total counts
	for _, s := range p.specs {
		c := bySIG[s.sig]
		if c == nil {
			c = &counts{}
			bySIG[s.sig] = c
		}
		c[s.result]++
		total[s.result]++
	}
	sigs := make([]string, 0, len(bySIG))
	for s := range bySIG {
		sigs = append(sigs, s)
	}
	sort.Strings(sigs)
	fmt.Fprintf(w, "%s phase (%s):\n\n", p.name, p.wall.Round(time.Second))
	fmt.Fprintln(w, "| SIG | passed | failed | skipped |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, s := range sigs {
		c := bySIG[s]
		fmt.Fprintf(w, "| %s | %d | %d | %d |\n", s, c[passed], c[failed], c[skipped])
	}
	fmt.Fprintf(w, "| **all** | %d | %d | %d |\n\n", total[passed], total[failed], total[skipped])
}

// failedFocus is a regex matching the full text of every failed spec of
// the phases named by args.
func failedFocus(args []string) (string, error) {
	var parts []string
	for _, a := range args {
		name, path, ok := strings.Cut(a, "=")
		if !ok {
			return "", fmt.Errorf("argument %q is not PHASE=DIR", a)
		}
		p, err := readPhase(name, path)
		if err != nil {
			return "", err
		}
		for _, s := range p.specs {
			if s.result == failed && strings.HasPrefix(s.name, "[It] ") {
				parts = append(parts, regexp.QuoteMeta(strings.TrimPrefix(s.name, "[It] ")))
			}
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "|"), nil
}
