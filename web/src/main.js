document.getElementById('app').textContent = 'tiderun';
