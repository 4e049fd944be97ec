using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using DockerProxy.Native;

namespace DockerProxy.Relay.Tcp;

/// <summary>
/// One direction copied with splice(2): source socket -> pipe -> destination socket, the bytes never
/// entering the process (the original does the same through Go's io.Copy). Readiness comes from the
/// .NET socket engine, so no thread blocks: a receive into a 512-byte buffer waits until the source
/// is readable, and a small message is sent on from that buffer (recv + send, cheaper than two
/// splices); only when the buffer comes back full does the rest go through a pipe. When the
/// destination is full, the next byte is taken out of the pipe and sent with SendAsync, which
/// waits until the destination is writable again. A pipe is rented only while bytes are in flight.
/// Where splice cannot be used (no fd for a pipe, a socket type that refuses it) the direction
/// continues on the Pipelines copy from where it stands.
/// </summary>
internal sealed class SpliceDirection : IRelayDirection
{
    private const uint Flags = Libc.SpliceFMove | Libc.SpliceFNonBlock;

    // What one wake-up copies through memory before it turns to splice: a request or a reply of
    // many protocols fits; a bulk stream pays one small copy per wake-up; an idle connection
    // holds two of these.
    private const int SmallBytes = 512;

    private readonly Socket _source;
    private readonly Socket _destination;
    private readonly SplicePipePool _pipes;
    private readonly FlowActivity? _activity;
    private readonly byte[] _small = new byte[SmallBytes];
    private byte[]? _oneByte;
    private DirectionPump? _fallback;
    private long _spliced;

    internal SpliceDirection(Socket source, Socket destination, SplicePipePool pipes, FlowActivity? activity = null)
    {
        _source = source;
        _destination = destination;
        _pipes = pipes;
        _activity = activity;
    }

    public long BytesSent => _spliced + (_fallback?.BytesSent ?? 0);

    public async Task RunAsync()
    {
        bool destinationFailed = false;
        try
        {
            while (true)
            {
                // Wait for data (or EOF) with a small buffer and no pipe: a small message (the
                // common case in request/response traffic) is then sent on from it, recv + send;
                // only when the buffer came back full does the rest go through a pipe.
                int received = await _source.ReceiveAsync(_small, SocketFlags.None);
                Outcome small = await SendSmallAsync(received);
                if (small == Outcome.Drained)
                {
                    continue;
                }

                if (small != Outcome.More)
                {
                    destinationFailed = small == Outcome.DestinationFailed;
                    HalfClose.End(_source, _destination, destinationFailed);
                    return;
                }

                SplicePipe? pipe = _pipes.Rent();
                if (pipe is null)
                {
                    break; // out of fds for a pipe: copy through memory instead
                }

                Outcome outcome;
                try
                {
                    outcome = await MoveAvailableAsync(pipe);
                }
                catch
                {
                    pipe.Dispose(); // it may still hold bytes
                    throw;
                }

                if (outcome == Outcome.DestinationFailed)
                {
                    pipe.Dispose();
                    destinationFailed = true;
                    HalfClose.End(_source, _destination, destinationFailed: true);
                    return;
                }

                _pipes.Return(pipe); // empty again
                if (outcome == Outcome.SourceEnded)
                {
                    HalfClose.End(_source, _destination, destinationFailed: false);
                    return;
                }

                if (outcome == Outcome.Unsupported)
                {
                    break;
                }
            }
        }
        catch (SocketException e) when (SocketErrors.IsFlowEnd(e.SocketErrorCode))
        {
            HalfClose.End(_source, _destination, destinationFailed);
            return;
        }
        catch (ObjectDisposedException)
        {
            return; // aborted
        }

        _fallback = new DirectionPump(_source, _destination, _activity);
        await _fallback.RunAsync();
    }

    // Sends on what the small buffer received: Drained when all of it went and the buffer was not
    // full, More when it was (more may be waiting: the caller goes on with splice). What the
    // destination cannot take at once is sent when it can (the socket engine waits for room).
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<Outcome> SendSmallAsync(int received)
    {
        if (received == 0)
        {
            return Outcome.SourceEnded;
        }

        _activity?.Touch();
        nint sent = SendSmall(received);
        if (sent < 0)
        {
            if (Marshal.GetLastPInvokeError() != Libc.EAgain)
            {
                return Outcome.DestinationFailed; // EPIPE, ECONNRESET...: the destination is gone
            }

            sent = 0;
        }

        if (sent < received)
        {
            try
            {
                _ = await _destination.SendAsync(_small.AsMemory((int)sent, received - (int)sent), SocketFlags.None);
            }
            catch (SocketException)
            {
                return Outcome.DestinationFailed;
            }
        }

        _spliced += received;
        return received < SmallBytes ? Outcome.Drained : Outcome.More;
    }

    private unsafe nint SendSmall(int count)
    {
        using var destination = new FdLease(_destination);
        fixed (byte* data = _small)
        {
            return destination.Fd < 0 ? Fail() : Libc.Send(destination.Fd, data, count, Libc.MsgDontWait | Libc.MsgNoSignal);
        }
    }

    // Moves everything readable now from the source to the destination through the pipe. Pooled
    // builders: called once per wake-up, these must not allocate a state machine when they wait.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<Outcome> MoveAvailableAsync(SplicePipe pipe)
    {
        while (true)
        {
            nint moved = SpliceIn(pipe);
            if (moved == 0)
            {
                return Outcome.SourceEnded;
            }

            if (moved < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                return errno switch
                {
                    Libc.EAgain => Outcome.Drained,
                    Libc.EInval or Libc.ENoSys => Outcome.Unsupported,
                    _ => Outcome.SourceEnded, // reset or error: the destination gets a FIN
                };
            }

            _activity?.Touch();
            if (!await DrainAsync(pipe, moved))
            {
                return Outcome.DestinationFailed;
            }
        }
    }

    // Empties the pipe into the destination; false when the destination failed.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> DrainAsync(SplicePipe pipe, nint pending)
    {
        while (pending > 0)
        {
            nint sent = SpliceOut(pipe, pending);
            if (sent > 0)
            {
                pending -= sent;
                _spliced += sent;
                continue;
            }

            if (sent < 0 && Marshal.GetLastPInvokeError() == Libc.EAgain)
            {
                // The destination is full. Let the socket engine tell when it can take more: send
                // the next byte of the stream through it, then splice the rest.
                _oneByte ??= new byte[1];
                if (ReadOneByte(pipe) != 1)
                {
                    return false;
                }

                try
                {
                    _ = await _destination.SendAsync(_oneByte, SocketFlags.None);
                }
                catch (SocketException)
                {
                    return false;
                }

                pending--;
                _spliced++;
                continue;
            }

            return false; // EPIPE, ECONNRESET...: the destination is gone
        }

        return true;
    }

    private unsafe nint SpliceIn(SplicePipe pipe)
    {
        using var source = new FdLease(_source);
        return source.Fd < 0 ? Fail() : Libc.Splice(source.Fd, null, pipe.WriteFd, null, (nuint)pipe.Size, Flags);
    }

    private unsafe nint SpliceOut(SplicePipe pipe, nint count)
    {
        using var destination = new FdLease(_destination);
        return destination.Fd < 0 ? Fail() : Libc.Splice(pipe.ReadFd, null, destination.Fd, null, (nuint)count, Flags);
    }

    // The socket was closed under us (the connection was aborted): report it as EBADF.
    private static nint Fail()
    {
        Marshal.SetLastPInvokeError(Libc.EBadF);
        return -1;
    }

    private unsafe nint ReadOneByte(SplicePipe pipe)
    {
        fixed (byte* one = _oneByte)
        {
            return Libc.Read(pipe.ReadFd, one, 1);
        }
    }

    private enum Outcome
    {
        Drained,
        More,
        SourceEnded,
        DestinationFailed,
        Unsupported,
    }
}
