"""The generic Kubernetes API server of each lab cluster: nothing here knows Istio.

What any cluster's kube-apiserver (with etcd behind it) does for real clients: HTTPS listeners,
routing and the endpoint handlers (handlers/), bearer-token authentication and RBAC, the object
store with its watches, selectors, defaulting, validation and patches, discovery and OpenAPI
documents, protobuf request bodies, and errors as metav1.Status. The simulation around it
(controllers/, istio/, traffic/) reaches a cluster through `LabCluster` and its Store's hooks.
"""
