@echo off
rem windock copies this folder to C:\OEM during Setup and runs this file once, at the first
rem logon after Windows is installed (its output goes to C:\OEM\install.log).
rem
rem It turns the machine into a Windows container host:
rem   1. enables the Containers feature (Install-WindowsFeature on Windows Server,
rem      Enable-WindowsOptionalFeature on Windows 10/11);
rem   2. fetches Microsoft's Docker CE installer (Windows-Containers repository) and registers it
rem      to run at the next administrator logon, after the reboot the feature needs;
rem   3. restarts Windows.

echo [windock] enabling the Containers feature
powershell -NoProfile -ExecutionPolicy Bypass -Command ^
  "if (Get-Command Install-WindowsFeature -ErrorAction SilentlyContinue) { Install-WindowsFeature -Name Containers } else { Enable-WindowsOptionalFeature -Online -FeatureName Containers -All -NoRestart }"

echo [windock] downloading install-docker-ce.ps1
powershell -NoProfile -ExecutionPolicy Bypass -Command ^
  "Invoke-WebRequest -UseBasicParsing -Uri 'https://raw.githubusercontent.com/microsoft/Windows-Containers/Main/helpful_tools/Install-DockerCE/install-docker-ce.ps1' -OutFile 'C:\OEM\install-docker-ce.ps1'"

if exist C:\OEM\install-docker-ce.ps1 (
  echo [windock] Docker CE installs at the next administrator logon
  reg add "HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\RunOnce" /v windock-docker-ce /t REG_SZ /f ^
    /d "powershell -NoProfile -ExecutionPolicy Bypass -File C:\OEM\install-docker-ce.ps1"
) else (
  echo [windock] download failed: run the Docker CE installer by hand, see the example's README
)

echo [windock] restarting to finish enabling Containers
shutdown /r /t 30 /c "windock: restarting to enable Windows containers"
