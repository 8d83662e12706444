package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const report = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="5" failures="1">
  <testsuite name="Kubernetes e2e suite" tests="5" time="125.5">
    <testcase name="[SynchronizedBeforeSuite]" status="passed" time="1"></testcase>
    <testcase name="[ReportAfterSuite] [sig-testing] Log Check" status="passed" time="0"></testcase>
    <testcase name="[It] [sig-node] Pods should get a host IP [NodeConformance] [Conformance]" status="passed" time="3"></testcase>
    <testcase name="[It] [sig-network] Services should serve a basic endpoint from pods  [Conformance]" status="failed" time="60">
      <failure message="timed out" type="failed">boom</failure>
    </testcase>
    <testcase name="[It] [sig-network] DNS should provide DNS for services  [Conformance]" status="passed" time="9"></testcase>
    <testcase name="[It] [sig-apps] Job should run a job to completion [Conformance]" status="skipped" time="0">
      <skipped message="skipped - Only supported for providers [gce]"></skipped>
    </testcase>
    <testcase name="[It] [sig-apps] Job filtered out by the focus [Conformance]" status="skipped" time="0">
      <skipped message="skipped"></skipped>
    </testcase>
  </testsuite>
</testsuites>`

func TestSummary(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "junit_01.xml"), []byte(report), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	anyFailed, err := run([]string{"parallel=" + dir}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if !anyFailed {
		t.Error("run reported no failure")
	}
	want := `parallel phase (2m6s):

| SIG | passed | failed | skipped |
|---|---|---|---|
| sig-apps | 0 | 0 | 1 |
| sig-network | 1 | 1 | 0 |
| sig-node | 1 | 0 | 0 |
| **all** | 2 | 1 | 1 |

failed specs (1):
  [It] [sig-network] Services should serve a basic endpoint from pods  [Conformance]
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
}

func TestSummaryBadInput(t *testing.T) {
	dir := t.TempDir()
	if _, err := run([]string{"parallel=" + dir}, &strings.Builder{}); err == nil {
		t.Error("an empty report folder gave no error")
	}
	if _, err := run([]string{dir}, &strings.Builder{}); err == nil {
		t.Error("an argument without PHASE= gave no error")
	}
}

func TestFailedFocus(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "junit_01.xml"), []byte(report), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := failedFocus([]string{"parallel=" + dir})
	if err != nil {
		t.Fatal(err)
	}
	want := `\[sig-network\] Services should serve a basic endpoint from pods  \[Conformance\]`
	if got != want {
		t.Errorf("focus %q, want %q", got, want)
	}
}
