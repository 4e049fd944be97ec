namespace DockerProxy.Relay.Tcp;

/// <summary>
/// Pipes for splice, rented only while bytes are in flight: a direction takes one when its source
/// is readable and gives it back as soon as the pipe is empty again, so idle connections hold no
/// pipe (and no fds beyond their two sockets). At most <see cref="MaxKept"/> empty pipes are kept.
/// </summary>
internal sealed class SplicePipePool : IDisposable
{
    /// <summary>256 KiB: large enough that one splice moves a socket's worth of data.</summary>
    internal const int PipeSize = 256 * 1024;

    private const int MaxKept = 64;

    private readonly Stack<SplicePipe> _idle = new();
    private readonly object _gate = new();
    private bool _disposed;

    internal static SplicePipePool Shared { get; } = new();

    /// <summary>An empty pipe, or null when none can be made (out of fds).</summary>
    internal SplicePipe? Rent()
    {
        lock (_gate)
        {
            if (_idle.Count > 0)
            {
                return _idle.Pop();
            }
        }

        return SplicePipe.TryCreate(PipeSize);
    }

    /// <summary>Gives back an empty pipe. A pipe that may hold bytes must be disposed instead.</summary>
    internal void Return(SplicePipe pipe)
    {
        lock (_gate)
        {
            if (!_disposed && _idle.Count < MaxKept)
            {
                _idle.Push(pipe);
                return;
            }
        }

        pipe.Dispose();
    }

    /// <summary>Closes every empty pipe kept: a proxy gone quiet holds none (a pipe is two fds).</summary>
    internal void TrimIdle()
    {
        lock (_gate)
        {
            while (_idle.Count > 0)
            {
                _idle.Pop().Dispose();
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            while (_idle.Count > 0)
            {
                _idle.Pop().Dispose();
            }
        }
    }
}
