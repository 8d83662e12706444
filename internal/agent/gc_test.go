package agent

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/types"
)

func TestContainerGarbage(t *testing.T) {
	ctr := func(id string, pod types.UID, name string, attempt uint32, state ContainerState, sb string) Container {
		return Container{ID: id, PodUID: pod, Name: name, Attempt: attempt, State: state, SandboxID: sb, CreatedAt: t0.Add(time.Duration(attempt) * time.Second)}
	}
	sbx := func(id string, pod types.UID, attempt uint32, state SandboxState) Sandbox {
		return Sandbox{ID: id, PodUID: pod, Attempt: attempt, State: state, CreatedAt: t0.Add(time.Duration(attempt) * time.Minute)}
	}
	tests := []struct {
		name           string
		cs             []Container
		sbs            []Sandbox
		wantContainers []string
		wantSandboxes  []string
	}{
		{
			name: "nothing dead",
			cs:   []Container{ctr("c0", "p", "c", 0, ContainerRunning, "s0")},
			sbs:  []Sandbox{sbx("s0", "p", 0, SandboxReady)},
		},
		{
			name: "running with one dead instance: it is the last state, kept",
			cs:   []Container{ctr("c1", "p", "c", 1, ContainerRunning, "s0"), ctr("c0", "p", "c", 0, ContainerExited, "s0")},
			sbs:  []Sandbox{sbx("s0", "p", 0, SandboxReady)},
		},
		{
			name: "dead instances beyond the newest are removed",
			cs: []Container{
				ctr("c3", "p", "c", 3, ContainerRunning, "s0"), ctr("c2", "p", "c", 2, ContainerExited, "s0"),
				ctr("c1", "p", "c", 1, ContainerExited, "s0"), ctr("c0", "p", "c", 0, ContainerExited, "s0"),
			},
			sbs:            []Sandbox{sbx("s0", "p", 0, SandboxReady)},
			wantContainers: []string{"c0", "c1"},
		},
		{
			name: "crash looping: the newest dead one stays, older ones go",
			cs:   []Container{ctr("c2", "p", "c", 2, ContainerExited, "s0"), ctr("c1", "p", "c", 1, ContainerExited, "s0")},
			sbs:  []Sandbox{sbx("s0", "p", 0, SandboxReady)},

			wantContainers: []string{"c1"},
		},
		{
			name: "counted per container name and per pod",
			cs: []Container{
				ctr("a1", "p", "a", 1, ContainerExited, "s0"), ctr("a0", "p", "a", 0, ContainerExited, "s0"),
				ctr("b0", "p", "b", 0, ContainerExited, "s0"),
				ctr("q-a1", "q", "a", 1, ContainerExited, "t0"), ctr("q-a0", "q", "a", 0, ContainerExited, "t0"),
			},
			sbs:            []Sandbox{sbx("s0", "p", 0, SandboxReady), sbx("t0", "q", 0, SandboxReady)},
			wantContainers: []string{"a0", "q-a0"},
		},
		{
			name: "created and unknown containers are not dead",
			cs:   []Container{ctr("c1", "p", "c", 1, ContainerCreated, "s0"), ctr("c0", "p", "c", 0, ContainerUnknown, "s0")},
			sbs:  []Sandbox{sbx("s0", "p", 0, SandboxReady)},
		},
		{
			name: "an old empty dead sandbox goes when a newer one exists",
			cs:   []Container{ctr("c0", "p", "c", 0, ContainerRunning, "s1")},
			sbs:  []Sandbox{sbx("s0", "p", 0, SandboxNotReady), sbx("s1", "p", 1, SandboxReady)},

			wantSandboxes: []string{"s0"},
		},
		{
			name: "an old dead sandbox holding the last dead container stays",
			cs:   []Container{ctr("c1", "p", "c", 1, ContainerRunning, "s1"), ctr("c0", "p", "c", 0, ContainerExited, "s0")},
			sbs:  []Sandbox{sbx("s0", "p", 0, SandboxNotReady), sbx("s1", "p", 1, SandboxReady)},
		},
		{
			name: "an old dead sandbox goes with its last container once that is collected",
			cs: []Container{
				ctr("c2", "p", "c", 2, ContainerRunning, "s1"), ctr("c1", "p", "c", 1, ContainerExited, "s1"),
				ctr("c0", "p", "c", 0, ContainerExited, "s0"),
			},
			sbs:            []Sandbox{sbx("s0", "p", 0, SandboxNotReady), sbx("s1", "p", 1, SandboxReady)},
			wantContainers: []string{"c0"},
			wantSandboxes:  []string{"s0"},
		},
		{
			name: "the newest sandbox stays even when dead",
			sbs:  []Sandbox{sbx("s0", "p", 0, SandboxNotReady), sbx("s1", "p", 1, SandboxNotReady)},

			wantSandboxes: []string{"s0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotC, gotS := containerGarbage(tt.cs, tt.sbs)
			if diff := cmp.Diff(tt.wantContainers, gotC); diff != "" {
				t.Errorf("containers (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantSandboxes, gotS); diff != "" {
				t.Errorf("sandboxes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestImageGarbage(t *testing.T) {
	const gb = uint64(1) << 30
	now := t0.Add(time.Hour)
	policy := imagePolicy{HighPercent: 85, LowPercent: 80, MinAge: 2 * time.Minute, Keep: []string{"localhost/skiff/pause:1"}}
	images := []Image{
		{ID: "sha256:pause", Tags: []string{"localhost/skiff/pause:1"}, Size: 1 * gb},
		{ID: "sha256:old", Tags: []string{"example/old:1"}, Size: 3 * gb},
		{ID: "sha256:older", Tags: []string{"example/older:1"}, Size: 2 * gb},
		{ID: "sha256:used", Tags: []string{"example/used:1"}, Size: 5 * gb},
		{ID: "sha256:new", Tags: []string{"example/new:1"}, Size: 4 * gb},
		{ID: "sha256:pinned", Tags: []string{"example/pinned:1"}, Size: 4 * gb, Pinned: true},
	}
	lastUsed := map[string]time.Time{
		"sha256:pause": t0, "sha256:old": t0.Add(10 * time.Minute), "sha256:older": t0, "sha256:used": now,
		"sha256:new": now.Add(-time.Minute), "sha256:pinned": t0,
	}
	inUse := map[string]bool{"sha256:used": true}
	tests := []struct {
		name string
		fs   FsStats
		low  int
		want []string
	}{
		{name: "below the high threshold: nothing", fs: FsStats{Capacity: 100 * gb, Available: 16 * gb}},
		{name: "at the high threshold: down to low, least recently used first", fs: FsStats{Capacity: 100 * gb, Available: 15 * gb}, want: []string{"sha256:older", "sha256:old"}},
		{name: "only as much as needed", fs: FsStats{Capacity: 100 * gb, Available: 14 * gb}, low: 84, want: []string{"sha256:older"}},
		{name: "full: every candidate, but never in use, recent, pinned or the sandbox image", fs: FsStats{Capacity: 100 * gb, Available: 0}, want: []string{"sha256:older", "sha256:old"}},
		{name: "no capacity reported: nothing", fs: FsStats{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := policy
			if tt.low != 0 {
				p.LowPercent = tt.low
			}
			var got []string
			for _, img := range imageGarbage(images, inUse, lastUsed, tt.fs, p, now) {
				got = append(got, img.ID)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("removed images (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOrphans(t *testing.T) {
	tests := []struct {
		name  string
		sbs   []Sandbox
		cs    []Container
		dirs  []types.UID
		known map[types.UID]bool
		want  []types.UID
	}{
		{name: "everything known", sbs: []Sandbox{{ID: "s", PodUID: "a"}}, cs: []Container{{ID: "c", PodUID: "a"}}, dirs: []types.UID{"a"}, known: map[types.UID]bool{"a": true}},
		{
			name:  "sandboxes, containers and folders of unknown pods",
			sbs:   []Sandbox{{ID: "s1", PodUID: "a"}, {ID: "s2", PodUID: "b"}},
			cs:    []Container{{ID: "c1", PodUID: "c"}},
			dirs:  []types.UID{"d", "a"},
			known: map[types.UID]bool{"a": true},
			want:  []types.UID{"b", "c", "d"},
		},
		{name: "objects without a pod UID are not ours", sbs: []Sandbox{{ID: "s"}}, cs: []Container{{ID: "c"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, orphans(tt.sbs, tt.cs, tt.dirs, tt.known)); diff != "" {
				t.Errorf("orphans (-want +got):\n%s", diff)
			}
		})
	}
}
