using System.Buffers;

namespace DockerProxy.Relay.Tcp;

/// <summary>
/// The pipes' memory: fixed 16 KiB segments whose owner objects are reused too (MemoryPool.Shared
/// wraps every rented array in a new owner object: an allocation per segment, thousands per
/// second under load). Up to <see cref="MaxKept"/> free segments are kept; beyond that, returned
/// ones are left to the GC, so a burst does not pin its peak forever.
/// </summary>
internal sealed class SegmentPool : MemoryPool<byte>
{
    internal const int SegmentSize = 16 * 1024;

    private const int MaxKept = 64;

    private readonly Stack<Segment> _free = new(MaxKept);
    private readonly object _gate = new();

    internal static new SegmentPool Shared { get; } = new();

    public override int MaxBufferSize => SegmentSize;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, SegmentSize);
        lock (_gate)
        {
            if (_free.Count > 0)
            {
                return _free.Pop();
            }
        }

        return new Segment(this);
    }

    protected override void Dispose(bool disposing)
    {
        // Shared for the process's life.
    }

    private void Return(Segment segment)
    {
        lock (_gate)
        {
            if (_free.Count < MaxKept)
            {
                _free.Push(segment);
            }
        }
    }

    private sealed class Segment : IMemoryOwner<byte>
    {
        private readonly SegmentPool _pool;
        private readonly byte[] _array = GC.AllocateUninitializedArray<byte>(SegmentSize);

        internal Segment(SegmentPool pool) => _pool = pool;

        public Memory<byte> Memory => _array;

        public void Dispose() => _pool.Return(this);
    }
}
