// Package imagelocality implements ImageLocality: nodes that already have
// the pod's images score higher, weighted by image size and by how many
// nodes share the image (so that pods do not all pile onto one node).
package imagelocality

import (
	"context"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff/internal/scheduler/framework"
)

// Name is the plugin's name in configuration.
const Name = "ImageLocality"

// Thresholds as upstream: below 23 MB an image is not worth moving pods
// for; above 1000 MB per container every node scores the maximum.
const (
	mb           int64 = 1024 * 1024
	minThreshold       = 23 * mb
	maxThreshold       = 1000 * mb
)

// ImageLocality is the plugin.
type ImageLocality struct{ h framework.Handle }

var (
	_ framework.PreScorePlugin = (*ImageLocality)(nil)
	_ framework.ScorePlugin    = (*ImageLocality)(nil)
)

const stateKey framework.StateKey = "PreScore" + Name

type preScoreState struct {
	images     []string
	totalNodes int
}

func (s *preScoreState) Clone() framework.StateData { return s }

// PreScore implements framework.PreScorePlugin: normalise the image names
// once per pod rather than once per node.
func (pl *ImageLocality) PreScore(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	state.Write(stateKey, &preScoreState{images: podImages(pod), totalNodes: len(pl.h.SnapshotSharedLister().List())})
	return nil
}

func podImages(pod *v1.Pod) []string {
	out := make([]string, 0, len(pod.Spec.InitContainers)+len(pod.Spec.Containers))
	for _, c := range pod.Spec.InitContainers {
		out = append(out, Normalize(c.Image))
	}
	for _, c := range pod.Spec.Containers {
		out = append(out, Normalize(c.Image))
	}
	return out
}

// New builds the plugin.
func New(_ runtime.Object, h framework.Handle) (framework.Plugin, error) {
	return &ImageLocality{h: h}, nil
}

// Name implements framework.Plugin.
func (*ImageLocality) Name() string { return Name }

// Score implements framework.ScorePlugin.
func (pl *ImageLocality) Score(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	d, err := state.Read(stateKey)
	if err != nil {
		return Score(podImages(pod), ni, len(pl.h.SnapshotSharedLister().List())), nil
	}
	s := d.(*preScoreState)
	return Score(s.images, ni, s.totalNodes), nil
}

// Score computes the score of one node for the pod's normalised images;
// exported for tests.
func Score(images []string, ni *framework.NodeInfo, totalNodes int) int64 {
	if len(ni.ImageStates) == 0 || totalNodes == 0 || len(images) == 0 {
		return 0
	}
	var sum int64
	for _, img := range images {
		if st, ok := ni.ImageStates[img]; ok {
			sum += int64(float64(st.Size) * float64(st.NumNodes) / float64(totalNodes))
		}
	}
	maxT := maxThreshold * int64(len(images))
	if sum < minThreshold {
		sum = minThreshold
	} else if sum > maxT {
		sum = maxT
	}
	return framework.MaxNodeScore * (sum - minThreshold) / (maxT - minThreshold)
}

// Normalize spells an image as upstream's ImageLocality compares it: with
// the default tag (latest) when it names none and is not pinned by digest.
// Registries are not filled in: a pod should name its image the way the
// node reports it.
func Normalize(image string) string {
	if strings.Contains(image, "@") {
		return image
	}
	if strings.LastIndexByte(image, ':') <= strings.LastIndexByte(image, '/') {
		return image + ":latest"
	}
	return image
}

// ScoreExtensions implements framework.ScorePlugin.
func (*ImageLocality) ScoreExtensions() framework.ScoreExtensions { return nil }
