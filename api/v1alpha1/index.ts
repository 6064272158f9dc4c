// The ReplicationJob API, v1alpha1: the types generated from the CRD
// (crds/ferry.dev_replicationjobs.yaml), which the operator and the workers share.
export * from './replicationJob.generated.ts';
