"""One module per `nas` command: `add_parser(subparsers)` registers it."""
