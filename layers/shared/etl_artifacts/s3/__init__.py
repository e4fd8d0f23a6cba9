"""S3: the key layout, LIST and ETags, a phase attempt's objects, and the artifact store
(clients, bucket, prefix and the warm caches) that the read path is handed."""
