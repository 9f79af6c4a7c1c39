"""`python -m mediaeval_memo` (also what `accelerate launch -m mediaeval_memo train ...` runs)."""

from mediaeval_memo.cli import main

if __name__ == "__main__":
    main()
