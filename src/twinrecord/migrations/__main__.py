"""`python -m twinrecord.migrations init DIR --models MODULE`."""

from ._init import main

raise SystemExit(main())
