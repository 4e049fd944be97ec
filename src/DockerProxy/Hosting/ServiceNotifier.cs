using Microsoft.Extensions.Hosting.Systemd;

namespace DockerProxy.Hosting;

/// <summary>
/// sd_notify(3) for a Type=notify unit: READY=1 once listening, STOPPING=1 on SIGINT/SIGTERM.
/// Only exists when NOTIFY_SOCKET is set, which dockerd never does.
/// </summary>
internal sealed class ServiceNotifier
{
    private readonly SystemdNotifier _notifier = new();

    private ServiceNotifier()
    {
    }

    internal static ServiceNotifier? Create(Func<string, string?> environment) =>
        environment("NOTIFY_SOCKET") is { Length: > 0 } ? new ServiceNotifier() : null;

    internal void Ready() => _notifier.Notify(ServiceState.Ready);

    internal void Stopping() => _notifier.Notify(ServiceState.Stopping);
}
