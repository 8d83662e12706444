package cronjob

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// ErrTooManyMissed reports a schedule whose unmet times could not all be
// walked; the most recent one found is still returned.
var ErrTooManyMissed = errors.New("too many missed start times")

// maxMissed bounds the walk over unmet schedule times.
const maxMissed = 100_000

// parseSchedule parses a standard cron schedule, evaluated in tz (the
// local zone when empty). A CRON_TZ= or TZ= prefix in the schedule wins.
func parseSchedule(spec string, tz *string) (cron.Schedule, error) {
	if tz != nil && *tz != "" && !strings.HasPrefix(spec, "TZ=") && !strings.HasPrefix(spec, "CRON_TZ=") {
		if _, err := time.LoadLocation(*tz); err != nil {
			return nil, fmt.Errorf("parse time zone %q: %w", *tz, err)
		}
		spec = "CRON_TZ=" + *tz + " " + spec
	}
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("parse schedule %q: %w", spec, err)
	}
	return s, nil
}

// mostRecent returns the latest schedule time in (earliest, now], whether
// there is one, and the time after now to wake up for.
func mostRecent(s cron.Schedule, earliest, now time.Time) (last time.Time, ok bool, next time.Time, err error) {
	t := s.Next(earliest)
	for n := 0; !t.After(now); n++ {
		if n == maxMissed {
			err = ErrTooManyMissed
			break
		}
		last, ok = t, true
		t = s.Next(t)
	}
	if err != nil {
		// Skip ahead: walk from just before now instead.
		t = s.Next(now.Add(-time.Hour * 24 * 366))
		for !t.After(now) {
			last, ok = t, true
			t = s.Next(t)
		}
	}
	return last, ok, t, err
}
