package scheduler

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

var metaCreate = metav1.CreateOptions{}
