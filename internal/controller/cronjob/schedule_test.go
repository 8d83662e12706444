package cronjob

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestMostRecent(t *testing.T) {
	base := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name, spec      string
		tz              string
		earliest, now   time.Time
		wantOK          bool
		wantLast, wantN time.Time
	}{
		{name: "none yet", spec: "*/5 * * * *", earliest: base, now: base.Add(4 * time.Minute), wantN: base.Add(5 * time.Minute)},
		{name: "one", spec: "*/5 * * * *", earliest: base, now: base.Add(6 * time.Minute), wantOK: true,
			wantLast: base.Add(5 * time.Minute), wantN: base.Add(10 * time.Minute)},
		{name: "several missed", spec: "*/5 * * * *", earliest: base, now: base.Add(31 * time.Minute), wantOK: true,
			wantLast: base.Add(30 * time.Minute), wantN: base.Add(35 * time.Minute)},
		{name: "hourly", spec: "@hourly", earliest: base, now: base.Add(90 * time.Minute), wantOK: true,
			wantLast: base.Add(time.Hour), wantN: base.Add(2 * time.Hour)},
		{name: "time zone", spec: "0 12 * * *", tz: "Europe/Berlin", earliest: base, now: base.Add(24 * time.Hour), wantOK: true,
			wantLast: time.Date(2026, 1, 1, 11, 0, 0, 0, time.UTC), wantN: time.Date(2026, 1, 2, 11, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tz *string
			if tt.tz != "" {
				tz = &tt.tz
			}
			s, err := parseSchedule(tt.spec, tz)
			if err != nil {
				t.Fatal(err)
			}
			last, ok, next, err := mostRecent(s, tt.earliest, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			type res struct {
				OK         bool
				Last, Next time.Time
			}
			if diff := cmp.Diff(res{tt.wantOK, tt.wantLast.UTC(), tt.wantN.UTC()}, res{ok, last.UTC(), next.UTC()}); diff != "" {
				t.Errorf("mostRecent (-want +got):\n%s", diff)
			}
		})
	}
}
