"""`safegen scan-dataset`: moderate a fine-tuning dataset (images + dataset_info.json) before training.

Every image (and the instance prompt) of a folder or an s3:// prefix is moderated, in-process or
through a running service (--target). The package reads in layers:

- `stores`: where the dataset lives (a local folder or an s3:// prefix): list, read, quarantine, rewrite.
- `journal`: the append-only record of results that makes a killed scan resume where it stopped.
- `moderation`: the image and text moderators called in-process, or a running service over gRPC.
- `report`: the JSON report and the rewritten dataset_info.json.
- `scanner`: the scan loop that ties them together.
- `cli`: the argparse front (`configure_parser`/`run`) registered as `safegen scan-dataset`.
"""
