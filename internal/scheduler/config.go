package scheduler

import (
	"encoding/json"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	configv1 "k8s.io/kube-scheduler/config/v1"
	"sigs.k8s.io/yaml"

	"skiff/internal/scheduler/framework"
)

// DefaultSchedulerName is the profile pods get when they name none.
const DefaultSchedulerName = "default-scheduler"

// unimplemented are upstream plugins skiff does not have; a configuration
// naming them is accepted and they are left out.
var unimplemented = map[string]bool{
	"SchedulingGates": true, "EBSLimits": true, "GCEPDLimits": true, "AzureDiskLimits": true,
	"DynamicResources": true,
}

// LoadConfigFile reads a KubeSchedulerConfiguration (YAML or JSON,
// kubescheduler.config.k8s.io/v1).
func LoadConfigFile(path string) (*configv1.KubeSchedulerConfiguration, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read scheduler config: %w", err)
	}
	return ParseConfig(data)
}

// ParseConfig decodes a KubeSchedulerConfiguration.
func ParseConfig(data []byte) (*configv1.KubeSchedulerConfiguration, error) {
	var cfg configv1.KubeSchedulerConfiguration
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		return nil, fmt.Errorf("parse scheduler config: %w", err)
	}
	if cfg.Kind != "" && cfg.Kind != "KubeSchedulerConfiguration" {
		return nil, fmt.Errorf("parse scheduler config: kind %q is not KubeSchedulerConfiguration", cfg.Kind)
	}
	if cfg.APIVersion != "" && cfg.APIVersion != configv1.SchemeGroupVersion.String() {
		return nil, fmt.Errorf("parse scheduler config: apiVersion %q is not %s", cfg.APIVersion, configv1.SchemeGroupVersion)
	}
	return &cfg, nil
}

// Profiles turns a configuration into framework profiles; nil or no
// profiles means one default profile.
func Profiles(cfg *configv1.KubeSchedulerConfiguration) ([]framework.Profile, error) {
	var in []configv1.KubeSchedulerProfile
	if cfg != nil {
		in = cfg.Profiles
	}
	if len(in) == 0 {
		in = []configv1.KubeSchedulerProfile{{}}
	}
	seen := map[string]bool{}
	var out []framework.Profile
	for _, p := range in {
		name := DefaultSchedulerName
		if p.SchedulerName != nil && *p.SchedulerName != "" {
			name = *p.SchedulerName
		}
		if seen[name] {
			return nil, fmt.Errorf("scheduler config: duplicate profile %q", name)
		}
		seen[name] = true
		prof := framework.Profile{
			SchedulerName:            name,
			Points:                   map[string]framework.PointSet{},
			PluginArgs:               map[string]runtime.Object{},
			PercentageOfNodesToScore: p.PercentageOfNodesToScore,
		}
		multi := DefaultMultiPoint()
		if p.Plugins != nil {
			multi = mergeMultiPoint(multi, p.Plugins.MultiPoint)
			for point, set := range map[string]configv1.PluginSet{
				framework.PointQueueSort: p.Plugins.QueueSort, framework.PointPreFilter: p.Plugins.PreFilter,
				framework.PointFilter: p.Plugins.Filter, framework.PointPostFilter: p.Plugins.PostFilter,
				framework.PointPreScore: p.Plugins.PreScore, framework.PointScore: p.Plugins.Score,
				framework.PointReserve: p.Plugins.Reserve, framework.PointPreBind: p.Plugins.PreBind,
				framework.PointBind: p.Plugins.Bind,
			} {
				ps := framework.PointSet{}
				for _, d := range set.Disabled {
					ps.Disabled = append(ps.Disabled, d.Name)
				}
				for _, e := range set.Enabled {
					if unimplemented[e.Name] {
						continue
					}
					ps.Enabled = append(ps.Enabled, ref(e))
				}
				prof.Points[point] = ps
			}
		}
		prof.MultiPoint = multi
		for _, pc := range p.PluginConfig {
			args, err := decodeArgs(pc)
			if err != nil {
				return nil, fmt.Errorf("scheduler config: profile %q: %w", name, err)
			}
			if args != nil {
				prof.PluginArgs[pc.Name] = args
			}
		}
		out = append(out, prof)
	}
	return out, nil
}

func ref(p configv1.Plugin) framework.PluginRef {
	r := framework.PluginRef{Name: p.Name}
	if p.Weight != nil {
		r.Weight = *p.Weight
	}
	return r
}

// mergeMultiPoint applies a profile's multiPoint set to the defaults:
// disabled plugins go ("*" all), enabled ones replace a default of the same
// name in place or are appended.
func mergeMultiPoint(defaults []framework.PluginRef, set configv1.PluginSet) []framework.PluginRef {
	disabled := map[string]bool{}
	for _, d := range set.Disabled {
		disabled[d.Name] = true
	}
	custom := map[string]framework.PluginRef{}
	for _, e := range set.Enabled {
		custom[e.Name] = ref(e)
	}
	var out []framework.PluginRef
	used := map[string]bool{}
	if !disabled["*"] {
		for _, d := range defaults {
			if disabled[d.Name] {
				continue
			}
			if c, ok := custom[d.Name]; ok {
				d = c
				used[d.Name] = true
			}
			out = append(out, d)
		}
	}
	for _, e := range set.Enabled {
		if !used[e.Name] && !unimplemented[e.Name] {
			out = append(out, ref(e))
		}
	}
	return out
}

func decodeArgs(pc configv1.PluginConfig) (runtime.Object, error) {
	var obj runtime.Object
	switch pc.Name {
	case "NodeResourcesFit":
		obj = &configv1.NodeResourcesFitArgs{}
	case "NodeResourcesBalancedAllocation":
		obj = &configv1.NodeResourcesBalancedAllocationArgs{}
	case "PodTopologySpread":
		obj = &configv1.PodTopologySpreadArgs{}
	case "InterPodAffinity":
		obj = &configv1.InterPodAffinityArgs{}
	case "NodeAffinity":
		obj = &configv1.NodeAffinityArgs{}
	case "DefaultPreemption":
		obj = &configv1.DefaultPreemptionArgs{}
	case "VolumeBinding":
		obj = &configv1.VolumeBindingArgs{}
	default:
		return nil, nil
	}
	raw := pc.Args.Raw
	if len(raw) == 0 {
		return obj, nil
	}
	if err := json.Unmarshal(raw, obj); err != nil {
		return nil, fmt.Errorf("decode args of %s: %w", pc.Name, err)
	}
	return obj, nil
}
