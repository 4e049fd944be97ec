using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;

namespace DockerProxy.Relay.Tcp;

/// <summary>
/// One direction of a relayed connection: source socket -> pipe -> destination socket, as two
/// symmetric loops (after Kestrel's SocketConnection). The receive loop waits for data with a
/// zero-byte receive before taking a buffer, so an idle connection holds none; the pipe's pause
/// threshold bounds what a slow destination can make us hold. At the end of the source (EOF, reset
/// or error) the destination is half-closed (FIN) and the other direction keeps running, as the
/// original's copy loop does (moby cmd/docker-proxy/tcp_proxy_linux.go).
/// </summary>
internal sealed class DirectionPump : IRelayDirection
{
    /// <summary>Largest receive in one call; the pool's segments for it are reused across connections.</summary>
    internal const int SegmentSize = SegmentPool.SegmentSize;

    // At most PauseThreshold bytes wait in memory for a slow destination; the kernel's socket
    // buffers hold the rest and TCP flow control pushes back on the sender.
    private const int PauseThreshold = 128 * 1024;
    private const int ResumeThreshold = 64 * 1024;

    private static readonly PipeOptions PipeOptions = new(
        pool: SegmentPool.Shared,
        readerScheduler: PipeScheduler.Inline,
        writerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: PauseThreshold,
        resumeWriterThreshold: ResumeThreshold,
        minimumSegmentSize: SegmentSize,
        useSynchronizationContext: false);

    private readonly Socket _source;
    private readonly Socket _destination;
    private readonly Pipe _pipe = new(PipeOptions);
    private readonly FlowActivity? _activity;

    internal DirectionPump(Socket source, Socket destination, FlowActivity? activity = null)
    {
        _source = source;
        _destination = destination;
        _activity = activity;
    }

    /// <summary>Bytes delivered to the destination so far.</summary>
    public long BytesSent { get; private set; }

    /// <summary>Runs until the source has ended and everything read was delivered (or the destination failed).</summary>
    public Task RunAsync()
    {
        Task receiving = ReceiveAsync();
        Task sending = SendAsync();
        return receiving.IsCompleted && sending.IsCompleted ? Task.CompletedTask : Task.WhenAll(receiving, sending);
    }

    private async Task ReceiveAsync()
    {
        PipeWriter writer = _pipe.Writer;
        try
        {
            while (true)
            {
                // Wait for readability without a buffer: idle connections cost no buffer memory.
                _ = await _source.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None);

                Memory<byte> buffer = writer.GetMemory(SegmentSize);
                int received = await _source.ReceiveAsync(buffer, SocketFlags.None);
                if (received == 0)
                {
                    break; // EOF from the source
                }

                writer.Advance(received);
                _activity?.Touch();
                FlushResult flushed = await writer.FlushAsync();
                if (flushed.IsCompleted)
                {
                    break; // the sending side gave up: the destination is gone
                }
            }
        }
        catch (SocketException e) when (SocketErrors.IsFlowEnd(e.SocketErrorCode) || e.SocketErrorCode == SocketError.Shutdown)
        {
            // A reset or abort ends this direction like an EOF: the destination gets a FIN.
        }
        catch (ObjectDisposedException)
        {
            // The connection was aborted (stop): nothing more to deliver.
        }
        finally
        {
            await writer.CompleteAsync();
        }
    }

    private async Task SendAsync()
    {
        PipeReader reader = _pipe.Reader;
        bool destinationFailed = false;
        try
        {
            while (true)
            {
                ReadResult result = await reader.ReadAsync();
                ReadOnlySequence<byte> buffer = result.Buffer;
                if (!buffer.IsEmpty)
                {
                    if (buffer.IsSingleSegment)
                    {
                        _ = await _destination.SendAsync(buffer.First, SocketFlags.None);
                    }
                    else
                    {
                        foreach (ReadOnlyMemory<byte> segment in buffer)
                        {
                            _ = await _destination.SendAsync(segment, SocketFlags.None);
                        }
                    }

                    BytesSent += buffer.Length;
                }

                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (SocketException e) when (SocketErrors.IsFlowEnd(e.SocketErrorCode) || e.SocketErrorCode is SocketError.Shutdown)
        {
            destinationFailed = true;
        }
        catch (ObjectDisposedException)
        {
            destinationFailed = true;
        }
        finally
        {
            await reader.CompleteAsync();
        }

        HalfClose.End(_source, _destination, destinationFailed);
    }
}
