package bench

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"time"
)

// Plot geometry: two panels, one above the other, sharing the time axis.
const (
	plotWidth  = 960
	panelH     = 280
	marginL    = 70
	marginR    = 70
	marginT    = 40
	panelGap   = 70
	maxPoints  = 20000
	minLatency = 0.1   // ms, the bottom of the latency axis
	maxLatency = 60000 // ms, its top
)

// callClass sorts a call into one of the plot's three colours.
func callClass(k CallKey) (string, string) {
	switch k.Verb {
	case "get":
		return "get", "#2a9d4b"
	case "list":
		return "list", "#e07b00"
	}
	return "mutating", "#3060c0"
}

// WriteSVG plots the run: every API call's latency (log scale, one dot
// per call, coloured by kind) over time, with the phases marked, and
// below it the server's resident memory and CPU when they were sampled.
func (r *ScaleResult) WriteSVG(out io.Writer) error {
	w := bufio.NewWriter(out)
	height := marginT + 2*panelH + panelGap + 50
	end := r.Start
	for _, p := range r.Phases {
		if e := p.Start.Add(p.Took); e.After(end) {
			end = e
		}
	}
	span := max(end.Sub(r.Start).Seconds(), 1)
	innerW := float64(plotWidth - marginL - marginR)
	x := func(t time.Time) float64 { return marginL + innerW*t.Sub(r.Start).Seconds()/span }
	top1 := float64(marginT)
	top2 := float64(marginT + panelH + panelGap)
	logMin, logMax := math.Log10(minLatency), math.Log10(maxLatency)
	yLat := func(d time.Duration) float64 {
		v := math.Log10(min(max(ms(d), minLatency), maxLatency))
		return top1 + panelH - panelH*(v-logMin)/(logMax-logMin)
	}

	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", plotWidth, height)
	fmt.Fprintf(w, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(w, `<text x="%d" y="20" font-size="14">skiff bench scale: %d namespaces, %d workloads, %d pods</text>`+"\n",
		marginL, len(r.Plan.Namespaces), len(r.Plan.Workloads), r.Plan.Pods)

	// Panel frames, time axis ticks and phase markers.
	for _, top := range []float64{top1, top2} {
		fmt.Fprintf(w, `<rect x="%d" y="%.1f" width="%.1f" height="%d" fill="none" stroke="#888"/>`+"\n", marginL, top, innerW, panelH)
		step := niceStep(span / 10)
		for s := 0.0; s <= span; s += step {
			px := marginL + innerW*s/span
			fmt.Fprintf(w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#888"/>`, px, top+panelH, px, top+panelH+4)
			fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="middle">%gs</text>`+"\n", px, top+panelH+16, s)
		}
		for _, p := range r.Phases {
			px := x(p.Start)
			fmt.Fprintf(w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#bbb" stroke-dasharray="4 3"/>`, px, top, px, top+panelH)
			fmt.Fprintf(w, `<text x="%.1f" y="%.1f" fill="#666">%s</text>`+"\n", px+3, top+12, p.Name)
		}
	}

	// Latency panel.
	fmt.Fprintf(w, `<text x="14" y="%.1f" transform="rotate(-90 14 %.1f)" text-anchor="middle">API call latency (ms, log)</text>`+"\n",
		top1+panelH/2, top1+panelH/2)
	for v := minLatency; v <= maxLatency; v *= 10 {
		py := yLat(time.Duration(v * float64(time.Millisecond)))
		fmt.Fprintf(w, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`, marginL, py, marginL+innerW, py)
		fmt.Fprintf(w, `<text x="%d" y="%.1f" text-anchor="end">%g</text>`+"\n", marginL-4, py+4, v)
	}
	for _, slo := range []struct {
		d     time.Duration
		label string
	}{{sloSingle, "1s SLO"}, {sloListNamespace, "5s list SLO"}, {sloListClusterScope, "30s list SLO"}} {
		py := yLat(slo.d)
		fmt.Fprintf(w, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#c00" stroke-dasharray="2 2"/>`, marginL, py, marginL+innerW, py)
		fmt.Fprintf(w, `<text x="%.1f" y="%.1f" fill="#c00">%s</text>`+"\n", marginL+innerW+3, py+4, slo.label)
	}
	every := max(1, len(r.Calls)/maxPoints)
	for i, c := range r.Calls {
		if i%every != 0 {
			continue
		}
		_, colour := callClass(c.Key)
		fmt.Fprintf(w, `<circle cx="%.1f" cy="%.1f" r="1.2" fill="%s" fill-opacity="0.5"/>`+"\n", x(c.At.Add(c.Took)), yLat(c.Took), colour)
	}
	for i, k := range []CallKey{{Verb: "create"}, {Verb: "get"}, {Verb: "list"}} {
		name, colour := callClass(k)
		lx := float64(marginL + 10 + 90*i)
		fmt.Fprintf(w, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"/><text x="%.1f" y="%.1f">%s</text>`+"\n", lx, top1+panelH-10, colour, lx+7, top1+panelH-6, name)
	}
	if every > 1 {
		fmt.Fprintf(w, `<text x="%.1f" y="%.1f" fill="#666" text-anchor="end">every %dth call shown</text>`+"\n", marginL+innerW-4, top1+panelH-6, every)
	}

	// Memory and CPU panel.
	fmt.Fprintf(w, `<text x="14" y="%.1f" transform="rotate(-90 14 %.1f)" text-anchor="middle">server RSS (MiB)</text>`+"\n",
		top2+panelH/2, top2+panelH/2)
	if len(r.Samples) == 0 {
		fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#666">server not sampled (no process id)</text>`+"\n",
			marginL+innerW/2, top2+panelH/2)
	} else {
		var peakMiB, peakCores float64
		for _, s := range r.Samples {
			peakMiB = max(peakMiB, float64(s.RSSKiB)/1024)
			peakCores = max(peakCores, s.Cores)
		}
		memTop := niceStep(peakMiB/4) * 5
		coreTop := max(1, math.Ceil(peakCores))
		for i := 0; i <= 5; i++ {
			py := top2 + panelH - panelH*float64(i)/5
			fmt.Fprintf(w, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`, marginL, py, marginL+innerW, py)
			fmt.Fprintf(w, `<text x="%d" y="%.1f" text-anchor="end">%g</text>`, marginL-4, py+4, memTop*float64(i)/5)
			fmt.Fprintf(w, `<text x="%.1f" y="%.1f" fill="#999">%.1f</text>`+"\n", marginL+innerW+4, py+4, coreTop*float64(i)/5)
		}
		fmt.Fprintf(w, `<text x="%d" y="%.1f" transform="rotate(90 %d %.1f)" text-anchor="middle" fill="#999">server CPU (cores)</text>`+"\n",
			plotWidth-14, top2+panelH/2, plotWidth-14, top2+panelH/2)
		line := func(colour string, v func(ProcSample) float64, top float64) {
			fmt.Fprintf(w, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="`, colour)
			for _, s := range r.Samples {
				fmt.Fprintf(w, "%.1f,%.1f ", x(s.At), top2+panelH-panelH*min(v(s)/top, 1))
			}
			fmt.Fprintln(w, `"/>`)
		}
		line("#999", func(s ProcSample) float64 { return s.Cores }, coreTop)
		line("#7030a0", func(s ProcSample) float64 { return float64(s.RSSKiB) / 1024 }, memTop)
		fmt.Fprintf(w, `<text x="%d" y="%.1f" fill="#7030a0">RSS</text><text x="%d" y="%.1f" fill="#999">CPU</text>`+"\n",
			marginL+10, top2+14, marginL+50, top2+14)
	}
	fmt.Fprintln(w, `</svg>`)
	return w.Flush()
}

// niceStep rounds raw up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}
