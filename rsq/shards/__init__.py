"""Search over an archive split into shards: separate indexes, one result list as if they were one."""
