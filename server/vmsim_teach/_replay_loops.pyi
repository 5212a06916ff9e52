# The C module built from _replay_loops.c: int64 buffers in (pages) and out (the caller's).
import numpy as np
import numpy.typing as npt

Buffer = npt.NDArray[np.int64]

def lru(
    pages: Buffer, frames: int, nr_pages: int, faults_at: Buffer, victims: Buffer
) -> tuple[int, int]: ...
def ring(
    pages: Buffer,
    frames: int,
    nr_pages: int,
    second_chance: bool,
    faults_at: Buffer,
    victims: Buffer,
) -> tuple[int, int]: ...
def random(
    pages: Buffer,
    frames: int,
    nr_pages: int,
    mt_state: Buffer,
    mt_cursor: int,
    faults_at: Buffer,
    victims: Buffer,
) -> tuple[int, int]: ...
def random_draws(mt_state: Buffer, mt_cursor: int, bounds: Buffer, out: Buffer) -> None: ...
def mru(
    pages: Buffer, frames: int, nr_pages: int, faults_at: Buffer, victims: Buffer
) -> tuple[int, int]: ...
def unopt(
    pages: Buffer, frames: int, nr_pages: int, faults_at: Buffer, victims: Buffer
) -> tuple[int, int]: ...
def opt(
    pages: Buffer, frames: int, nr_pages: int, faults_at: Buffer, victims: Buffer
) -> tuple[int, int]: ...
def stack_distance_misses(pages: Buffer, nr_pages: int, misses: Buffer) -> int: ...
