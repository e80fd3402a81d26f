"""``python -m udos.aiida migrate PROFILE [--dry-run] [--revert] [--json]``: see udos.aiida.migrate."""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    """Exit 0 on success, 2 on usage errors, 3 when the migration is refused or fails."""
    parser = argparse.ArgumentParser(prog='python -m udos.aiida', description=__doc__)
    sub = parser.add_subparsers(dest='command', required=True)
    mig = sub.add_parser(
        'migrate', help='switch a core.sqlite_dos/core.psql_dos profile to udos.sqlite/udos.psql (or back)'
    )
    mig.add_argument('profile', help='name of the AiiDA profile')
    mig.add_argument('--dry-run', action='store_true', help='only report what would be done')
    mig.add_argument('--revert', action='store_true', help='switch a migrated profile back to disk-objectstore')
    mig.add_argument('--json', action='store_true', help='print the report as one JSON object')
    args = parser.parse_args(argv)

    from .migrate import MigrationError, migrate_profile, revert_profile  # pylint: disable=import-outside-toplevel

    try:
        if args.revert:
            report = revert_profile(args.profile, dry_run=args.dry_run)
        else:
            report = migrate_profile(args.profile, dry_run=args.dry_run)
    except (MigrationError, OSError) as exc:
        print(f"udos.aiida migrate: {exc} '{args.profile}'", file=sys.stderr)
        return 3
    except Exception as exc:  # pylint: disable=broad-except  # aiida's own errors (profile, lock)
        print(f"udos.aiida migrate: {type(exc).__name__}: {exc} '{args.profile}'", file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps(report))
    else:
        verb = 'would switch' if report['dry_run'] else 'switched'
        if report.get('resumed'):
            verb = f'{verb} (completing an interrupted switch)'
        what = 'objects copied back' if args.revert else 'objects'
        print(f"{verb} profile {report['profile']}: {report['backend']}, {report['objects']} {what} ({report['container']})")
    return 0


if __name__ == '__main__':
    sys.exit(main())
